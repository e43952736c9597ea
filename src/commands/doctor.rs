//! `finesse-sso doctor`: runs the checks with the settings every other verb would resolve,
//! prints the report (table or JSON) on stdout, and fails (exit 22) when a check failed.

use std::io::Write;

use crate::cli::{DoctorArgs, DoctorFormat};
use crate::config::Config;
use crate::dirs::Dirs;
use crate::error::{Error, Result};

pub async fn run(args: &DoctorArgs, out: &mut impl Write) -> Result<()> {
    let dirs = Dirs::from_env()?;
    // Unlike other verbs, an invalid file does not stop here: its row says what is wrong.
    let survey = Config::survey(&dirs);
    let server = survey.config.resolve(&args.server);
    let report = crate::doctor::run(&dirs, &survey, &server).await;
    let text = match args.format {
        DoctorFormat::Table => report.table(),
        DoctorFormat::Json => report.json(server.profile()) + "\n",
    };
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::Internal(format!("writing the report to stdout: {e}")))?;
    let failed = report.failed();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::DoctorFailed(format!(
            "{} check(s) failed: {}",
            failed.len(),
            failed.join(", ")
        )))
    }
}
