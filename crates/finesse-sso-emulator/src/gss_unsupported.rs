//! Server-side GSSAPI where there is none to load (Windows): `--idp-login negotiate` refuses to
//! start with a clear error. The real one is gss.rs (Unix, `dlopen` of MIT Kerberos).

use std::path::Path;

/// Never built: `from_keytab` always fails here.
pub(crate) struct Acceptor(());

/// Why a token was not accepted.
#[derive(Debug)]
pub(crate) struct Rejected(pub String);

impl Acceptor {
    pub fn from_keytab(_keytab: &Path) -> Result<Acceptor, String> {
        Err("--idp-login negotiate needs a Unix GSSAPI library (MIT Kerberos)".into())
    }

    pub fn accept(&self, _token: &[u8]) -> Result<(String, Vec<u8>), Rejected> {
        Err(Rejected("no GSSAPI here".into()))
    }
}
