//! TEMPORARY SHIM (not committed)
use url::Url;
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EmulatorConfig {
    #[arg(long)]
    pub auto_login: Option<String>,
}
#[derive(Debug, thiserror::Error)]
#[error("x")]
pub struct EmulatorError;
pub struct Emulator {
    u: Url,
}
impl Emulator {
    pub fn finesse_url(&self) -> &Url {
        &self.u
    }
    pub fn ca_pem(&self) -> Option<&str> {
        None
    }
    pub async fn shutdown(self) {}
}
pub async fn start(_c: EmulatorConfig) -> Result<Emulator, EmulatorError> {
    Err(EmulatorError)
}
