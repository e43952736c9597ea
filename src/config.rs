//! Configuration files (TOML): an admin-managed system file and the user's own, merged under
//! the environment and the command line. Precedence, highest first: flags, `FINESSE_SSO_*`
//! environment, the user file's `[profiles.<name>]`, its top level, then the same two in the
//! system file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::ServerArgs;
use crate::dirs::{Dirs, HOME_ENV};
use crate::error::{Error, Result};

/// Names the system file explicitly (empty: none). Without it, `/etc/finesse-sso/config.toml`
/// (`%ProgramData%\finesse-sso\config.toml` on Windows), unless `FINESSE_SSO_HOME` is set.
pub const SYSTEM_CONFIG_ENV: &str = "FINESSE_SSO_SYSTEM_CONFIG";

/// Where one server, user and network setting come from.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Section {
    /// One Finesse side, or both: `server = ["finesse-a…", "finesse-b…"]` is kept as `--server`
    /// takes it, `a,b`.
    #[serde(default, deserialize_with = "one_or_both_sides")]
    pub server: Option<String>,
    pub user: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub proxy: Option<String>,
    /// Hosts (`host` or `host:port`) the sign-in window may use Kerberos with (Negotiate).
    pub kerberos_hosts: Option<Vec<String>>,
    /// The client certificate or smart card for an IdP that asks for one (taken whole from the
    /// first layer that has the table: a profile's, the top level, then the system file's).
    pub client_certificate: Option<crate::client_cert::ClientCertificate>,
    /// Hosts reached without `proxy` (curl's `no_proxy` syntax, comma-separated).
    pub proxy_bypass: Option<String>,
}

/// `server` as a string or a list of sides (joined with `,`, as `--server a,b` is written).
fn one_or_both_sides<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Server {
        One(String),
        Sides(Vec<String>),
    }
    match Server::deserialize(d) {
        Ok(Server::One(s)) => Ok(Some(s)),
        Ok(Server::Sides(v)) if v.is_empty() || v.iter().any(|s| s.contains(',')) => Err(
            serde::de::Error::custom("`server` lists one or two Finesse sides, each a host or URL"),
        ),
        Ok(Server::Sides(v)) => Ok(Some(v.join(","))),
        Err(_) => Err(serde::de::Error::custom(
            "`server` is a string or a list of strings (the Finesse sides)",
        )),
    }
}

/// Agent tuning.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AgentSection {
    pub max_prompts_per_hour: Option<u32>,
    pub sign_in_timeout: Option<u64>,
    pub max_clients: Option<usize>,
    /// `websocket`, `bosh` or `auto` (Finesse notifications' transport).
    pub notifications: Option<crate::notify::transport::Choice>,
}

/// One file as written.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct FileConfig {
    #[serde(flatten)]
    pub top: Section,
    /// The profile used when neither `--profile` nor `FINESSE_SSO_PROFILE` names one.
    pub profile: Option<String>,
    #[serde(default)]
    pub agent: AgentSection,
    #[serde(default)]
    pub profiles: BTreeMap<String, Section>,
    #[serde(flatten)]
    pub unknown: BTreeMap<String, toml::Value>,
}

impl FileConfig {
    /// Parses `text` from `path`; relative `ca_file`s are taken from the file's directory.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let mut c: FileConfig =
            toml::from_str(text).map_err(|e| Error::Usage(describe(path, text, &e)))?;
        for key in c.unknown.keys() {
            tracing::warn!("config {}: unknown key `{key}` ignored", path.display());
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let fix = |s: &mut Section| {
            if let Some(ca) = &s.ca_file
                && ca.is_relative()
            {
                s.ca_file = Some(base.join(ca));
            }
            if let Some(cert) = &mut s.client_certificate {
                cert.anchor(base);
            }
        };
        fix(&mut c.top);
        c.profiles.values_mut().for_each(fix);
        Ok(c)
    }

    fn read(path: &Path) -> Result<Option<Self>> {
        match std::fs::read_to_string(path) {
            Ok(t) => Self::parse(path, &t).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::state(path, e)),
        }
    }
}

/// Which of the two files a considered file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigRole {
    /// The administrator's defaults for every user.
    Machine,
    /// The user's own file.
    User,
}

impl ConfigRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigRole::Machine => "machine",
            ConfigRole::User => "user",
        }
    }
}

/// What the loader did with one file it considered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigFileStatus {
    Read,
    Missing,
    /// Unreadable or not valid TOML: every command refuses to run (the reason says where).
    Invalid(String),
    /// Present but not used, with the reason (a machine-wide file others could have written).
    Ignored(String),
}

/// One file the loader considered, in the order it looked.
#[derive(Debug, Clone)]
pub struct ConsideredFile {
    pub role: ConfigRole,
    pub path: PathBuf,
    pub status: ConfigFileStatus,
}

/// Everything the loader found: the merged configuration, each file's fate, and the error
/// that [`Config::load`] stops on (the first invalid file). `doctor` shows it all instead.
#[derive(Debug)]
pub struct ConfigSurvey {
    pub config: Config,
    pub files: Vec<ConsideredFile>,
    error: Option<Error>,
}

impl ConfigSurvey {
    /// The configuration, or the first invalid file's error.
    pub fn into_result(self) -> Result<Config> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.config),
        }
    }
}

/// Reads one considered file. A machine-wide file is judged by
/// [`crate::machine_file::trusted_machine_file`] first (issue 13, finding 2).
fn consider(
    role: ConfigRole,
    path: PathBuf,
) -> (ConsideredFile, Option<FileConfig>, Option<Error>) {
    let done = |status, file, error| {
        (
            ConsideredFile {
                role,
                path: path.clone(),
                status,
            },
            file,
            error,
        )
    };
    let present = !matches!(
        std::fs::symlink_metadata(&path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound
    );
    if present
        && role == ConfigRole::Machine
        && let Err(why) = crate::machine_file::trusted_machine_file(&path)
    {
        tracing::warn!(
            "machine-wide config {} ignored: {why} (only the administrator may be able to change it)",
            path.display()
        );
        return done(ConfigFileStatus::Ignored(why), None, None);
    }
    match FileConfig::read(&path) {
        Ok(Some(f)) => done(ConfigFileStatus::Read, Some(f), None),
        Ok(None) => done(ConfigFileStatus::Missing, None, None),
        Err(e) => done(ConfigFileStatus::Invalid(e.to_string()), None, Some(e)),
    }
}

/// A TOML error as "config PATH: line L, column C: what". Never the offending line itself
/// (toml's own `Display` quotes it, and it may hold a proxy password), nor a quoted value.
fn describe(path: &Path, text: &str, e: &toml::de::Error) -> String {
    let at = e
        .span()
        .map(|span| {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let col = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
            format!("line {line}, column {col}: ")
        })
        .unwrap_or_default();
    format!(
        "config {}: {at}{}",
        path.display(),
        redact_quoted(e.message().trim())
    )
}

/// Replaces every double-quoted part of a parser message (serde quotes string values that way:
/// `invalid type: string "…", expected u32`) with `"…"`. Keys, in backticks, stay.
fn redact_quoted(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut quoted = false;
    for c in msg.chars() {
        match (c, quoted) {
            ('"', false) => {
                out.push_str("\"…");
                quoted = true;
            }
            ('"', true) => {
                out.push('"');
                quoted = false;
            }
            (_, false) => out.push(c),
            (_, true) => {}
        }
    }
    if quoted {
        out.push('"');
    }
    out
}

/// The system file and the user file, either possibly absent.
#[derive(Debug, Default, Clone)]
pub struct Config {
    pub system: Option<FileConfig>,
    pub user: Option<FileConfig>,
}

/// The system file's path, if one applies.
pub fn system_config_file() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(SYSTEM_CONFIG_ENV) {
        return (!p.is_empty()).then(|| PathBuf::from(p));
    }
    if std::env::var_os(HOME_ENV).is_some_and(|h| !h.is_empty()) {
        return None; // tests and portable installs: only what is under the home
    }
    #[cfg(windows)]
    {
        std::env::var_os("ProgramData")
            .map(|d| PathBuf::from(d).join("finesse-sso").join("config.toml"))
    }
    #[cfg(not(windows))]
    {
        Some(PathBuf::from("/etc/finesse-sso/config.toml"))
    }
}

impl Config {
    /// The configuration every command uses; the first invalid file is an error.
    pub fn load(dirs: &Dirs) -> Result<Self> {
        Self::survey(dirs).into_result()
    }

    /// Considers the machine-wide file (when one applies), then the user's, and reports each.
    pub fn survey(dirs: &Dirs) -> ConfigSurvey {
        let mut survey = ConfigSurvey {
            config: Config::default(),
            files: Vec::new(),
            error: None,
        };
        let candidates = system_config_file()
            .map(|p| (ConfigRole::Machine, p))
            .into_iter()
            .chain([(ConfigRole::User, dirs.config_file())]);
        for (role, path) in candidates {
            let (considered, file, error) = consider(role, path);
            match role {
                ConfigRole::Machine => survey.config.system = file,
                ConfigRole::User => survey.config.user = file,
            }
            survey.error = survey.error.or(error);
            survey.files.push(considered);
        }
        survey
    }

    fn files(&self) -> impl Iterator<Item = &FileConfig> {
        self.user.iter().chain(self.system.iter())
    }

    /// Fills what flags and environment left open. A profile given by flag or
    /// `FINESSE_SSO_PROFILE` wins over the files' `profile`; the result always names one.
    pub fn resolve(&self, args: &ServerArgs) -> ServerArgs {
        let profile = args
            .profile
            .clone()
            .or_else(|| self.files().find_map(|f| f.profile.clone()))
            .unwrap_or_else(|| crate::cli::DEFAULT_PROFILE.to_string());
        let layers: Vec<&Section> = self
            .files()
            .flat_map(|f| [f.profiles.get(&profile), Some(&f.top)])
            .flatten()
            .collect();
        let pick = |own: &Option<String>, get: fn(&Section) -> &Option<String>| {
            own.clone()
                .or_else(|| layers.iter().find_map(|s| get(s).clone()))
        };
        ServerArgs {
            server: pick(&args.server, |s| &s.server),
            user: pick(&args.user, |s| &s.user),
            proxy: pick(&args.proxy, |s| &s.proxy),
            proxy_bypass: pick(&args.proxy_bypass, |s| &s.proxy_bypass),
            proxy_password_stdin: args.proxy_password_stdin,
            ca_file: args
                .ca_file
                .clone()
                .or_else(|| layers.iter().find_map(|s| s.ca_file.clone())),
            // Files only: the first layer that names a list wins whole (an empty list included).
            kerberos_hosts: layers.iter().find_map(|s| s.kerberos_hosts.clone()),
            profile: Some(profile),
            client_certificate: layers.iter().find_map(|s| s.client_certificate.clone()),
        }
    }

    /// Agent settings, the user file over the system file.
    pub fn agent(&self) -> AgentSection {
        let mut out = AgentSection::default();
        for f in self.files() {
            out.max_prompts_per_hour = out.max_prompts_per_hour.or(f.agent.max_prompts_per_hour);
            out.sign_in_timeout = out.sign_in_timeout.or(f.agent.sign_in_timeout);
            out.max_clients = out.max_clients.or(f.agent.max_clients);
            out.notifications = out.notifications.or(f.agent.notifications);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSTEM: &str = r#"
server = "finesse.corp.example"
ca_file = "corp-ca.pem"
proxy = "http://proxy.corp.example:3128"
proxy_bypass = "corp.example"
[agent]
max_prompts_per_hour = 1
max_clients = 64
notifications = "bosh"
[profiles.lab]
server = "lab.example:8445"
"#;

    const USER: &str = r#"
user = "agent7"
profile = "lab"
[agent]
max_prompts_per_hour = 5
[profiles.lab]
user = "labuser"
"#;

    fn config() -> Config {
        Config {
            system: Some(
                FileConfig::parse(Path::new("/etc/finesse-sso/config.toml"), SYSTEM).unwrap(),
            ),
            user: Some(FileConfig::parse(Path::new("/home/u/.config/c.toml"), USER).unwrap()),
        }
    }

    fn args() -> ServerArgs {
        ServerArgs::default()
    }

    fn args_with_profile() -> ServerArgs {
        ServerArgs {
            profile: Some("default".into()),
            ..Default::default()
        }
    }

    #[test]
    fn layers_resolve_in_order() {
        let c = config();
        // The user file picks the profile; its section beats the system's top level.
        let r = c.resolve(&args());
        assert_eq!(r.profile(), "lab");
        assert_eq!(r.server.as_deref(), Some("lab.example:8445"));
        assert_eq!(r.user.as_deref(), Some("labuser"));
        assert_eq!(
            r.ca_file.as_deref(),
            Some(Path::new("/etc/finesse-sso/corp-ca.pem"))
        );
        // The proxy and its bypass list come from the machine-wide file like the rest.
        assert_eq!(r.proxy.as_deref(), Some("http://proxy.corp.example:3128"));
        assert_eq!(r.proxy_bypass.as_deref(), Some("corp.example"));
        // An explicit profile without a section falls back to the top levels.
        let r = c.resolve(&args_with_profile());
        assert_eq!(r.profile(), "default");
        assert_eq!(r.server.as_deref(), Some("finesse.corp.example"));
        assert_eq!(r.user.as_deref(), Some("agent7"));
        // Flags and environment beat every file.
        let mut a = args_with_profile();
        a.user = Some("cli".into());
        assert_eq!(c.resolve(&a).user.as_deref(), Some("cli"));
        let ag = c.agent();
        assert_eq!(ag.max_prompts_per_hour, Some(5));
        assert_eq!(ag.max_clients, Some(64));
        assert_eq!(
            ag.notifications,
            Some(crate::notify::transport::Choice::Bosh)
        );
        assert_eq!(ag.sign_in_timeout, None);
        assert_eq!(Config::default().resolve(&args()).server, None);
        assert_eq!(Config::default().resolve(&args()).profile(), "default");
    }

    /// `[client_certificate]` is taken whole from the first layer that has it; relative
    /// files are the config file's neighbours; a misspelt key is an error, not ignored.
    #[test]
    fn client_certificate_tables_resolve_whole_and_anchor_files() {
        let system = "[client_certificate]\nissuer = \"Contoso\"\n\
                      [profiles.card.client_certificate]\npkcs11_uri = \"pkcs11:token=t\"\n";
        let user = "[profiles.lab.client_certificate]\nfile = \"certs/agent.p12\"\n";
        let c = Config {
            system: Some(FileConfig::parse(Path::new("/etc/f/config.toml"), system).unwrap()),
            user: Some(FileConfig::parse(Path::new("/home/u/c/config.toml"), user).unwrap()),
        };
        let with = |p: &str| {
            c.resolve(&ServerArgs {
                profile: Some(p.into()),
                ..Default::default()
            })
            .client_certificate
            .unwrap()
        };
        let lab = with("lab");
        assert_eq!(
            lab.file.as_deref(),
            Some(Path::new("/home/u/c/certs/agent.p12"))
        );
        assert_eq!(lab.issuer, None, "not merged with the system's table");
        assert_eq!(with("card").pkcs11_uri.as_deref(), Some("pkcs11:token=t"));
        assert_eq!(with("default").issuer.as_deref(), Some("Contoso"));
        let e = FileConfig::parse(
            Path::new("/x/c.toml"),
            "[client_certificate]\npkcs11uri = \"pkcs11:token=t\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("pkcs11uri"), "{e}");
    }

    #[test]
    fn kerberos_hosts_come_from_the_first_layer_that_names_them() {
        let system = "kerberos_hosts = [\"adfs.corp\"]\n[profiles.lab]\nkerberos_hosts = []\n";
        let c = Config {
            system: Some(FileConfig::parse(Path::new("/etc/c.toml"), system).unwrap()),
            user: Some(FileConfig::parse(Path::new("/u/c.toml"), "user = \"a\"").unwrap()),
        };
        let hosts = |p: &str| {
            c.resolve(&ServerArgs {
                profile: Some(p.into()),
                ..Default::default()
            })
            .kerberos_hosts
        };
        assert_eq!(hosts("default"), Some(vec!["adfs.corp".to_string()]));
        // A profile's empty list means none, not "inherit".
        assert_eq!(hosts("lab"), Some(vec![]));
        assert_eq!(Config::default().resolve(&args()).kerberos_hosts, None);
    }

    #[test]
    fn server_lists_both_sides_or_names_one() {
        let both = "server = [\"finesse-a.example\", \"finesse-b.example:8445\"]\n[profiles.p]\nserver = \"one\"\n";
        let c = FileConfig::parse(Path::new("/x/c.toml"), both).unwrap();
        assert_eq!(
            c.top.server.as_deref(),
            Some("finesse-a.example,finesse-b.example:8445")
        );
        assert_eq!(c.profiles["p"].server.as_deref(), Some("one"));
        for bad in ["server = []", "server = [\"a,b\"]", "server = [1]"] {
            let e = FileConfig::parse(Path::new("/x/c.toml"), bad).unwrap_err();
            assert!(e.to_string().contains("server"), "{bad}: {e}");
        }
    }

    #[test]
    fn bad_files_are_clear_errors_and_unknown_keys_pass() {
        let e = FileConfig::parse(Path::new("/x/c.toml"), "server = [").unwrap_err();
        assert!(e.to_string().contains("/x/c.toml"), "{e}");
        assert_eq!(e.exit_code(), crate::error::exit::USAGE);
        let e = FileConfig::parse(Path::new("/x/c.toml"), "server = 5").unwrap_err();
        assert!(e.to_string().contains("/x/c.toml"), "{e}");
        let c =
            FileConfig::parse(Path::new("/x/c.toml"), "colour = \"blue\"\nuser = \"u\"").unwrap();
        assert_eq!(c.top.user.as_deref(), Some("u"));
        assert!(c.unknown.contains_key("colour"));
    }

    /// Found by the security review: toml's error text quotes the offending line, so a typo
    /// next to a proxy password printed the password.
    #[test]
    fn config_errors_name_the_place_but_never_quote_values() {
        for text in [
            "user = \"agent1\"\nproxy = \"http://u:S3cretProxyPw@proxy:3128\" oops\n",
            "proxy = \"http://u:S3cretProxyPw@proxy:3128\n",
            "[agent]\nmax_clients = \"http://u:S3cretProxyPw@proxy:3128\"\n",
            "proxy = [\"http://u:S3cretProxyPw@proxy:3128\", 5]\n",
        ] {
            let e = FileConfig::parse(Path::new("/x/c.toml"), text).unwrap_err();
            let m = e.to_string();
            assert!(!m.contains("S3cretProxyPw"), "{m}");
            assert!(m.starts_with("config /x/c.toml: line "), "{m}");
            assert_eq!(e.exit_code(), crate::error::exit::USAGE);
        }
        let e = FileConfig::parse(Path::new("/x/c.toml"), "user = \"a\"\nproxy = \"p\" x\n")
            .unwrap_err();
        assert!(e.to_string().contains("line 2, column"), "{e}");
    }

    #[test]
    fn missing_files_are_no_config() {
        let t = tempfile::tempdir().unwrap();
        assert!(
            FileConfig::read(&t.path().join("none.toml"))
                .unwrap()
                .is_none()
        );
    }

    /// The loader's report: missing, read, invalid (the error `load` stops on), ignored.
    #[cfg(unix)]
    #[test]
    fn every_considered_file_is_reported() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("c.toml");
        let (f, parsed, err) = consider(ConfigRole::User, p.clone());
        assert_eq!(f.status, ConfigFileStatus::Missing);
        assert!(parsed.is_none() && err.is_none());
        std::fs::write(&p, "server = \"s\"\n").unwrap();
        let (f, parsed, err) = consider(ConfigRole::User, p.clone());
        assert_eq!(f.status, ConfigFileStatus::Read);
        assert_eq!(parsed.unwrap().top.server.as_deref(), Some("s"));
        assert!(err.is_none());
        std::fs::write(&p, "server = [").unwrap();
        let (f, parsed, err) = consider(ConfigRole::User, p.clone());
        assert!(matches!(f.status, ConfigFileStatus::Invalid(ref m) if m.contains("line 1")));
        assert!(parsed.is_none());
        assert_eq!(err.unwrap().exit_code(), crate::error::exit::USAGE);
        // The same file as the machine-wide one, writable by all: ignored, not an error.
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        let (f, parsed, err) = consider(ConfigRole::Machine, p.clone());
        assert!(
            matches!(f.status, ConfigFileStatus::Ignored(ref m) if m.contains("every user")),
            "{:?}",
            f.status
        );
        assert!(parsed.is_none() && err.is_none());
        // The user's own file is the user's business.
        std::fs::write(&p, "user = \"u\"").unwrap();
        assert_eq!(
            consider(ConfigRole::User, p).0.status,
            ConfigFileStatus::Read
        );
    }
}
