# A real NATS server with JetStream for the [[nats]] output tests
# (tests/it/nats/), and openssl to make the TLS tests' throwaway CA.
ci_apt nats-server openssl
