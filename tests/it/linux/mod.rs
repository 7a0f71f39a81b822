mod listen_queue;
mod once;
mod once_filter;
mod tcp_info_layout;
