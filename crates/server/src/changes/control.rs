//! The control socket: `DATA/b24lite.sock`, through which CLI commands tell the server running
//! on the same data folder that they changed the store.
//!
//! The exchange is one line each way: the command writes `changed`, the server forgets what it
//! keeps in memory, wakes its delivery workers, and answers `ok`. The command waits for that
//! answer (a second at most) before it exits, so once it has returned the server sees its change.
//! No server on the folder, or one that does not answer, is not an error: the server's caches
//! expire within `--cache-ttl` and its workers sweep the queue anyway.
//!
//! The socket is created readable and writable by its owner only, like `admin.key`. A folder
//! whose socket answers belongs to a running server, and a second one is refused there; a socket
//! left by a server that died is replaced. Unix only: elsewhere there is no socket and the bounds above
//! apply.

use std::path::{Path, PathBuf};

#[cfg(unix)]
pub use unix::{Socket, bind, serve, tell_server};

#[cfg(not(unix))]
pub use fallback::{Socket, bind, serve, tell_server};

/// The data folder's socket answers: another server runs on it.
#[derive(Debug, thiserror::Error)]
#[error("another b24lite server is running on the data folder {0} (its control socket answers)")]
pub struct Occupied(pub PathBuf);

/// The socket's path in a data folder.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("b24lite.sock")
}

/// What a command sends and what the server answers.
const CHANGED: &[u8] = b"changed\n";
const OK: &[u8] = b"ok\n";

#[cfg(unix)]
mod unix {
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{UnixListener, UnixStream};
    use tokio::sync::watch;

    use super::{CHANGED, OK, Occupied, socket_path};
    use crate::state::AppState;

    /// How long either side waits for the other.
    const PATIENCE: Duration = Duration::from_secs(1);

    /// A bound control socket; its file is removed when the server stops.
    pub struct Socket {
        listener: UnixListener,
        path: PathBuf,
    }

    /// Binds the socket of `data_dir`. A live socket means another server runs there
    /// ([`Occupied`]); a stale one is replaced; a socket that cannot be bound is explained in
    /// the log and the server runs without one.
    pub fn bind(data_dir: &Path) -> Result<Option<Socket>, Occupied> {
        let path = socket_path(data_dir);
        if path.exists() {
            if std::os::unix::net::UnixStream::connect(&path).is_ok() {
                return Err(Occupied(data_dir.to_path_buf()));
            }
            let _ = std::fs::remove_file(&path);
        }
        match bind_private(&path) {
            Ok(listener) => Ok(Some(Socket { listener, path })),
            Err(error) => {
                tracing::warn!(
                    path = %path.display(),
                    %error,
                    "no control socket: CLI changes are seen within --cache-ttl"
                );
                Ok(None)
            }
        }
    }

    fn bind_private(path: &Path) -> std::io::Result<UnixListener> {
        use std::os::unix::fs::PermissionsExt;
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        Ok(listener)
    }

    /// Answers commands until the server stops, then removes the socket file.
    pub async fn serve(state: AppState, socket: Socket, mut stop: watch::Receiver<bool>) {
        loop {
            let accepted = tokio::select! {
                accepted = socket.listener.accept() => accepted,
                _ = stop.changed() => break,
            };
            match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(answer(state.clone(), stream));
                }
                Err(error) => {
                    tracing::warn!(%error, "control socket: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        let _ = std::fs::remove_file(&socket.path);
    }

    async fn answer(state: AppState, mut stream: UnixStream) {
        let mut line = [0u8; 16];
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut line)).await;
        if let Ok(Ok(n)) = read
            && line[..n] == *CHANGED
        {
            super::super::changed_elsewhere(&state);
            let _ = stream.write_all(OK).await;
        }
    }

    /// Tells the server on `data_dir`, if one runs, that the store changed, and waits until it
    /// has acted on it (or gave no answer in time).
    pub async fn tell_server(data_dir: &Path) {
        let path = socket_path(data_dir);
        if !path.exists() {
            return;
        }
        let exchange = async {
            let mut stream = UnixStream::connect(&path).await?;
            stream.write_all(CHANGED).await?;
            let mut reply = Vec::new();
            stream.read_to_end(&mut reply).await?;
            std::io::Result::Ok(reply)
        };
        if let Ok(Ok(reply)) = tokio::time::timeout(PATIENCE * 2, exchange).await
            && reply != OK
        {
            tracing::warn!(path = %path.display(), "control socket: unexpected answer");
        }
    }
}

#[cfg(not(unix))]
mod fallback {
    use std::path::Path;

    use tokio::sync::watch;

    use crate::state::AppState;

    pub struct Socket;

    pub fn bind(_data_dir: &Path) -> Result<Option<Socket>, super::Occupied> {
        Ok(None)
    }

    pub async fn serve(_state: AppState, _socket: Socket, _stop: watch::Receiver<bool>) {}

    pub async fn tell_server(_data_dir: &Path) {}
}
