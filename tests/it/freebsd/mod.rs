mod fixtures;
mod fuzz;
mod replay;
mod replay_bounds;
mod tcpstats_dev;
mod tcpstats_replay;
