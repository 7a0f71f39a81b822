mod fixtures;
mod fuzz;
mod launchd;
mod replay;
