//! `finesse-sso logout`: our background agent forgets its tokens and the saved web session; without a
//! running agent, the saved web session is deleted here.

use crate::cli::ProfileArgs;
use crate::config::Config;
use crate::dirs::Dirs;
use crate::error::{Error, Result};

pub async fn run(args: &ProfileArgs) -> Result<()> {
    let dirs = Dirs::from_env()?;
    let config = Config::load(&dirs)?;
    let profile = super::agent::profile_of(&config, args);
    match super::agent::connect(&dirs, &config, args, "finesse-sso logout").await {
        Ok(mut c) => {
            c.logout().await?;
        }
        Err(Error::AgentNotRunning(_)) => {
            let dir = dirs.profile(&profile)?;
            let _lock = crate::websession::lock(&dir)?;
            crate::websession::clear(&dir)?;
        }
        Err(e) => return Err(e),
    }
    crate::stdio::note(format_args!(
        "finesse-sso: logged out of profile {profile}: tokens and the saved web session are gone"
    ));
    Ok(())
}
