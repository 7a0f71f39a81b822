mod daemon;
mod dashboard;
mod http;
mod prometheus;
mod socket_safety;
mod unix;
