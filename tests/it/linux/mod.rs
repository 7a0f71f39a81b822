mod once;
mod tcp_info_layout;
