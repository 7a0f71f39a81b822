mod churn;
mod config;
mod deadline;
mod drain;
mod full_disk;
mod hostile_files;
mod reload;
mod rotation;
