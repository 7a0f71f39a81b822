mod daemon;
mod dashboard;
mod http;
mod socket_safety;
mod unix;
