//! The Unix socket: every connected client receives the live JSON lines,
//! exactly as the JSON files get them, from the next sample on.
//!
//! Each sample is encoded once and the same bytes are queued to every
//! client (memory is bounded by `unix_client_queue` samples, not by the
//! number of clients). A client whose queue is full, or whose socket does
//! not take a write within `unix_write_timeout`, is disconnected and
//! counted; nobody else waits for it.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::EndpointError;
use super::accept_errors::{self, AcceptErrors};
use super::hub::{Hub, bump, drop_one};
use super::socket_file::{self, FileId};
use super::socket_lock::{self, SocketLock};
use crate::config::endpoint::resolve_group;
use crate::output::json;
use crate::record::Batch;

/// Samples waiting to be encoded for the stream before `publish` starts
/// dropping (and counting) them.
pub const STREAM_BACKLOG: usize = 16;

pub(super) struct UnixServer {
    pub path: PathBuf,
    /// (device, inode) of the socket file we created: we only ever remove
    /// our own file.
    id: FileId,
    /// Held while the socket is served: one agent per path.
    _lock: SocketLock,
    tx: mpsc::Sender<Arc<Batch>>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl UnixServer {
    /// Where `Hub::publish` sends batches for this server.
    pub fn sender(&self) -> mpsc::Sender<Arc<Batch>> {
        self.tx.clone()
    }

    pub fn start(
        path: &Path,
        mode: u32,
        group: Option<&str>,
        hub: Hub,
    ) -> Result<UnixServer, EndpointError> {
        let err = |what: &str, cause: std::io::Error| EndpointError::UnixSocket {
            path: path.to_path_buf(),
            what: what.to_string(),
            cause,
        };
        let gid = match group {
            Some(g) => Some(resolve_group(g).map_err(|e| err("looking up unix_socket_group", e))?),
            None => None,
        };
        // The lock first: only then is a socket file at the path surely
        // not another agent's.
        let lock = socket_lock::acquire(path).map_err(|e| err("locking", e))?;
        clear_stale(path).map_err(|e| err("replacing the old socket file", e))?;
        let (listener, id) = socket_file::bind(path, mode, gid).map_err(|e| err("binding", e))?;

        let (tx, rx) = mpsc::channel(STREAM_BACKLOG);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(fan_out(listener, hub, rx, cancel.clone()));
        Ok(UnixServer {
            path: path.to_path_buf(),
            id,
            _lock: lock,
            tx,
            cancel,
            task,
        })
    }

    /// Apply a new mode and group to the live socket file.
    pub fn set_permissions(&self, mode: u32, group: Option<&str>) -> Result<(), EndpointError> {
        let err = |what: &str, cause| EndpointError::UnixSocket {
            path: self.path.clone(),
            what: what.to_string(),
            cause,
        };
        let gid = match group {
            Some(g) => Some(resolve_group(g).map_err(|e| err("looking up unix_socket_group", e))?),
            None => None,
        };
        socket_file::set_permissions(&self.path, self.id, mode, gid)
            .map_err(|e| err("setting mode and group", e))
    }

    /// Disconnect every client and remove the socket file (if it is still
    /// ours), waiting for the tasks to end.
    pub async fn stop(self) {
        self.cancel.cancel();
        self.remove_file();
        let _ = self.task.await;
    }

    /// The same without waiting: the listener closes as its task ends.
    pub fn stop_now(self) {
        self.cancel.cancel();
        self.remove_file();
    }

    fn remove_file(&self) {
        if socket_file::is_ours(&self.path, self.id) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A socket file left by a previous run is removed; a live one (another
/// agent answers) or a file that is not a socket is an error.
fn clear_stale(path: &Path) -> std::io::Result<()> {
    let md = match std::fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !md.file_type().is_socket() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "a file that is not a socket is in the way: move it or choose another unix_socket path",
        ));
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "another process is listening on it: stop it or choose another unix_socket path",
        ));
    }
    std::fs::remove_file(path)
}

struct Client {
    tx: mpsc::Sender<Bytes>,
    task: tokio::task::JoinHandle<()>,
}

async fn fan_out(
    listener: UnixListener,
    hub: Hub,
    mut rx: mpsc::Receiver<Arc<Batch>>,
    cancel: CancellationToken,
) {
    let mut clients: Vec<Client> = Vec::new();
    let mut errors = AcceptErrors::default();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            a = listener.accept() => match a {
                Ok((stream, _)) => {
                    let s = hub.settings();
                    clients.retain(|c| !c.task.is_finished());
                    if clients.len() >= s.unix_max_clients {
                        bump(&hub.counters().unix_clients_refused);
                        continue;
                    }
                    let (tx, crx) = mpsc::channel(s.unix_client_queue);
                    bump(&hub.counters().unix_clients);
                    bump(&hub.counters().unix_clients_accepted);
                    let task = tokio::spawn(write_client(stream, crx, s.unix_write_timeout, hub.clone()));
                    clients.push(Client { tx, task });
                }
                Err(e) => {
                    errors.report("Unix socket", &e);
                    tokio::time::sleep(accept_errors::RETRY).await;
                }
            },
            b = rx.recv() => {
                let Some(batch) = b else { break };
                clients.retain(|c| !c.task.is_finished());
                if clients.is_empty() {
                    continue;
                }
                // Encoding a big table takes milliseconds: off the runtime.
                let Ok(bytes) = tokio::task::spawn_blocking(move || {
                    let mut out = Vec::with_capacity(512 + batch.sockets.len() * 600);
                    json::write_batch(&batch, &mut out);
                    Bytes::from(out)
                })
                .await else { continue };
                clients.retain(|c| match c.tx.try_send(bytes.clone()) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        c.task.abort();
                        bump(&hub.counters().unix_clients_dropped);
                        warn!("endpoint: dropped a Unix stream client that fell behind");
                        false
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                });
            }
        }
    }
    // Stopping: let each client finish the samples already queued for it,
    // so it ends on a whole line, but never wait long for a slow one.
    let grace = hub.settings().unix_write_timeout.min(STOP_GRACE);
    let mut tasks = Vec::new();
    for c in clients {
        drop(c.tx);
        tasks.push(c.task);
    }
    let aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
    if tokio::time::timeout(grace, futures::future::join_all(tasks))
        .await
        .is_err()
    {
        aborts.iter().for_each(|a| a.abort());
    }
}

/// Longest a stopping stream waits for clients to take their queued samples.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Decrements the connected-clients gauge however the writer ends
/// (finished, failed, or aborted).
struct Connected(Hub);

impl Drop for Connected {
    fn drop(&mut self) {
        drop_one(&self.0.counters().unix_clients);
    }
}

async fn write_client(
    mut stream: UnixStream,
    mut rx: mpsc::Receiver<Bytes>,
    timeout: std::time::Duration,
    hub: Hub,
) {
    let _connected = Connected(hub.clone());
    while let Some(b) = rx.recv().await {
        match tokio::time::timeout(timeout, stream.write_all(&b)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return, // the client went away
            Err(_) => {
                bump(&hub.counters().unix_clients_dropped);
                warn!("endpoint: dropped a Unix stream client that stopped reading");
                return;
            }
        }
    }
}
