//! `finesse-sso doctor`: answers the usual support questions in one report (engine, security
//! keys, display, window program, config files, state privacy, our agent, and with a server:
//! reachability, certificate trust, auth mode). Checks only look: nothing is created, fixed or started.

mod display;
mod engine;
mod local;
pub mod report;
mod server;

use crate::cli::ServerArgs;
use crate::config::{ConfigRole, ConfigSurvey};
use crate::dirs::Dirs;
use report::{Check, Report};

/// Runs every check; `server` is the resolved settings (flags, environment, then the files
/// in `survey`).
pub async fn run(dirs: &Dirs, survey: &ConfigSurvey, server: &ServerArgs) -> Report {
    let mut r = Report::default();
    if !survey.files.iter().any(|f| f.role == ConfigRole::Machine) {
        r.push(Check::skip(
            "config_machine",
            format!(
                "none applies ({} is set, or {} is empty)",
                crate::dirs::HOME_ENV,
                crate::config::SYSTEM_CONFIG_ENV
            ),
        ));
    }
    for file in &survey.files {
        let parsed = match file.role {
            ConfigRole::Machine => survey.config.system.as_ref(),
            ConfigRole::User => survey.config.user.as_ref(),
        };
        r.push(local::config_file(file, parsed));
    }
    r.push(engine::engine());
    r.push(engine::webauthn());
    r.push(display::display());
    r.push(local::window_program().await);
    r.push(local::state_dirs(dirs, server.profile()));
    r.push(local::agent(dirs, server).await);
    r.checks.extend(server::checks(server).await);
    r
}
