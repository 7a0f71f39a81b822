mod listen_overflow;
mod listen_queue;
mod once;
mod once_filter;
mod sock_diag_from_c;
mod tcp_info_layout;
