//! Targets every SOC knows are dangerous to act on, built in. A team drops
//! an entry that does not fit it with `[assets] ignore_builtin = [PATTERN]`
//! and adds its own with `[assets] critical`, `high` and `protected`.
//!
//! Sources:
//! - Domain controllers and `krbtgt`: Microsoft, "AD Forest Recovery –
//!   Resetting the krbtgt password" (resetting it invalidates every Kerberos
//!   ticket in the domain) and "Securing Domain Controllers Against Attack"
//!   (isolating a DC stops authentication for every host that uses it).
//! - `root`, `Administrator`, break-glass accounts: Microsoft Entra, "Manage
//!   emergency access accounts"; CIS Benchmarks (the built-in administrator
//!   and root are the last way in).
//! - Cloud root principals: AWS, "AWS account root user" (`arn:aws:iam::ID:root`).
//! - PID 1 and critical system processes: Linux `init(1)` (the kernel panics
//!   when init exits); Microsoft, "Bug Check 0xEF: CRITICAL_PROCESS_DIED"
//!   (csrss, wininit, smss, services, winlogon, lsass).
//! - Security agents: MITRE ATT&CK T1562.001 "Impair Defenses: Disable or
//!   Modify Tools" (stopping the EDR is what an intruder does first).
//! - Kernel and system paths: quarantining the kernel, the boot loader or a
//!   system directory leaves the host unbootable.
//! - Protected hosts (identity providers, update and package sources):
//!   blocking them locks people out or stops patching; NIST SP 800-61r2
//!   §3.3.1 (containment must weigh "service availability").

use super::super::types::{ActionKind, Risk};

/// What kind of thing a pattern names, and so which actions it concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Account,
    Host,
    Process,
    Path,
}

impl Kind {
    /// Whether an action acts on this kind of target. A kind the gate does
    /// not know (`run_command`) may act on anything.
    pub fn concerns(self, action: &ActionKind) -> bool {
        use ActionKind::*;
        match action {
            Other(_) => true,
            IsolateHost | BlockIndicator => self == Kind::Host,
            DisableAccount | ResetCredentials | RotateSecret | RevokeToken | ModifyPolicy => {
                self == Kind::Account
            }
            KillProcess => self == Kind::Process,
            // A critical process's or a security agent's file as much as
            // the process.
            QuarantineFile => self == Kind::Path || self == Kind::Process,
        }
    }
}

/// One built-in entry.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub kind: Kind,
    pub pattern: &'static str,
    pub floor: Risk,
    pub why: &'static str,
}

const fn e(kind: Kind, pattern: &'static str, floor: Risk, why: &'static str) -> Entry {
    Entry {
        kind,
        pattern,
        floor,
        why,
    }
}

use Kind::*;
use Risk::{Critical, High};

const DC: &str = "a domain controller: every sign-in in the domain depends on it";
const KRBTGT: &str = "the Kerberos ticket-granting account: resetting it invalidates every ticket";
const ROOT: &str = "a built-in administrator: the last way into the system";
const BREAK_GLASS: &str = "a break-glass account: the way in when everything else fails";
const CLOUD_ROOT: &str = "a cloud account's root principal";
const INIT: &str = "PID 1 (init): the system stops when it exits";
const CRITICAL_PROC: &str = "a critical system process: ending it crashes the host";
const SECURITY: &str = "a security agent: stopping it blinds the defenders (ATT&CK T1562.001)";
const KERNEL: &str = "the operating system's kernel or boot loader";
const SYNC: &str =
    "the directory sync or single sign-on account: every cloud sign-in depends on it";
const REMOTE: &str = "how administrators and the cluster reach the host";
const SYSTEM_DIR: &str = "a system directory: the host may not start without it";

pub const BUILTIN: &[Entry] = &[
    // Hosts
    e(Host, "dc", Critical, DC),
    e(Host, "dc?", Critical, DC),
    e(Host, "dc??", Critical, DC),
    e(Host, "dc-*", Critical, DC),
    e(Host, "dc_*", Critical, DC),
    e(Host, "*-dc", Critical, DC),
    e(Host, "*-dc?", Critical, DC),
    e(Host, "*-dc??", Critical, DC),
    e(Host, "*-dc-*", Critical, DC),
    // Accounts
    e(Account, "krbtgt", Critical, KRBTGT),
    e(Account, "krbtgt_*", Critical, KRBTGT),
    e(Account, "root", Critical, ROOT),
    e(Account, "administrator", Critical, ROOT),
    e(Account, "admin", High, ROOT),
    e(Account, "domain admins", Critical, ROOT),
    e(Account, "enterprise admins", Critical, ROOT),
    e(Account, "*break*glass*", Critical, BREAK_GLASS),
    e(Account, "*glass*break*", Critical, BREAK_GLASS),
    e(Account, "*emergency*access*", Critical, BREAK_GLASS),
    e(Account, "*emergency*admin*", Critical, BREAK_GLASS),
    e(Account, "s-1-5-21-*-500", Critical, ROOT),
    e(Account, "s-1-5-21-*-502", Critical, KRBTGT),
    e(Account, "s-1-5-21-*-512", Critical, ROOT),
    e(Account, "s-1-5-21-*-518", Critical, ROOT),
    e(Account, "s-1-5-21-*-519", Critical, ROOT),
    e(Account, "s-1-5-32-544", Critical, ROOT),
    e(Account, "schema admins", Critical, ROOT),
    e(Account, "msol_*", Critical, SYNC),
    e(Account, "azureadssoacc", Critical, SYNC),
    e(Account, "sync_*", High, SYNC),
    e(Account, "arn:aws:iam::*:root", Critical, CLOUD_ROOT),
    e(Account, "arn:aws-*:iam::*:root", Critical, CLOUD_ROOT),
    // Processes
    e(Process, "1", Critical, INIT),
    e(Process, "init", Critical, INIT),
    e(Process, "systemd", Critical, INIT),
    e(Process, "launchd", Critical, INIT),
    e(Process, "4", Critical, CRITICAL_PROC),
    e(Process, "system", Critical, CRITICAL_PROC),
    e(Process, "lsass", Critical, CRITICAL_PROC),
    e(Process, "csrss", Critical, CRITICAL_PROC),
    e(Process, "wininit", Critical, CRITICAL_PROC),
    e(Process, "smss", Critical, CRITICAL_PROC),
    e(Process, "services", Critical, CRITICAL_PROC),
    e(Process, "winlogon", Critical, CRITICAL_PROC),
    e(Process, "lsaiso", Critical, CRITICAL_PROC),
    e(Process, "svchost", High, CRITICAL_PROC),
    e(Process, "sshd", High, REMOTE),
    e(Process, "kubelet", High, REMOTE),
    e(Process, "senseir", High, SECURITY),
    e(Process, "sensendr", High, SECURITY),
    e(Process, "nissrv", High, SECURITY),
    e(Process, "sophos*", High, SECURITY),
    e(Process, "ekrn", High, SECURITY),
    e(Process, "cyserver", High, SECURITY),
    e(Process, "cytool", High, SECURITY),
    e(Process, "traps*", High, SECURITY),
    e(Process, "winlogbeat", High, SECURITY),
    e(Process, "filebeat", High, SECURITY),
    e(Process, "fluent-bit", High, SECURITY),
    e(Process, "velociraptor", High, SECURITY),
    e(Process, "msmpeng", High, SECURITY),
    e(Process, "mssense", High, SECURITY),
    e(Process, "sensecncproxy", High, SECURITY),
    e(Process, "csfalcon*", High, SECURITY),
    e(Process, "falcon-sensor", High, SECURITY),
    e(Process, "falcond", High, SECURITY),
    e(Process, "sentinel*", High, SECURITY),
    e(Process, "cb", High, SECURITY),
    e(Process, "repmgr", High, SECURITY),
    e(Process, "cylancesvc", High, SECURITY),
    e(Process, "xagt", High, SECURITY),
    e(Process, "elastic-agent", High, SECURITY),
    e(Process, "elastic-endpoint", High, SECURITY),
    e(Process, "osqueryd", High, SECURITY),
    e(Process, "auditd", High, SECURITY),
    e(Process, "sysmon*", High, SECURITY),
    e(Process, "wazuh-*", High, SECURITY),
    e(Process, "ossec*", High, SECURITY),
    e(Process, "taniumclient", High, SECURITY),
    e(Process, "splunkd", High, SECURITY),
    e(Process, "countersign", High, SECURITY),
    // Paths
    e(Path, "c:/windows/system32/ntoskrnl.exe", Critical, KERNEL),
    e(Path, "c:/windows/system32/hal.dll", Critical, KERNEL),
    e(Path, "c:/windows/system32/winload.*", Critical, KERNEL),
    e(Path, "c:/bootmgr", Critical, KERNEL),
    e(Path, "/boot/*", Critical, KERNEL),
    e(Path, "/vmlinuz*", Critical, KERNEL),
    e(Path, "/system/library/kernels/*", Critical, KERNEL),
    e(Path, "/efi/*", Critical, KERNEL),
    e(Path, "c:/windows/system32/config/*", Critical, KERNEL),
    e(Path, "/usr/libexec/*", High, SYSTEM_DIR),
    e(Path, "/var/lib", High, SYSTEM_DIR),
    e(Path, "/var/lib/*", High, SYSTEM_DIR),
    e(
        Path,
        "c:/program files/windows defender/*",
        High,
        SYSTEM_DIR,
    ),
    e(Path, "c:/windows/*", High, SYSTEM_DIR),
    e(Path, "/bin/*", High, SYSTEM_DIR),
    e(Path, "/sbin/*", High, SYSTEM_DIR),
    e(Path, "/lib/*", High, SYSTEM_DIR),
    e(Path, "/lib64/*", High, SYSTEM_DIR),
    e(Path, "/usr/bin/*", High, SYSTEM_DIR),
    e(Path, "/usr/sbin/*", High, SYSTEM_DIR),
    e(Path, "/usr/lib/*", High, SYSTEM_DIR),
    e(Path, "/usr/lib64/*", High, SYSTEM_DIR),
    e(Path, "/etc/*", High, SYSTEM_DIR),
    e(Path, "/system/*", High, SYSTEM_DIR),
];

/// Hosts never blocked or isolated by policy alone: identity providers and
/// the sources of updates and packages. Each also stands for its subdomains.
pub const PROTECTED: &[&str] = &[
    "login.microsoftonline.com",
    "login.windows.net",
    "login.live.com",
    "login.microsoft.com",
    "sts.windows.net",
    "msftauth.net",
    "msauth.net",
    "graph.microsoft.com",
    "oktacdn.com",
    "signin.aws.amazon.com",
    "sts.amazonaws.com",
    "securitycenter.windows.com",
    "securitycenter.microsoft.com",
    "events.data.microsoft.com",
    "endpoint.security.microsoft.com",
    "cloudsink.net",
    "crowdstrike.com",
    "sentinelone.net",
    "splunkcloud.com",
    "ocsp.digicert.com",
    "okta.com",
    "oktapreview.com",
    "okta-emea.com",
    "accounts.google.com",
    "auth0.com",
    "onelogin.com",
    "duosecurity.com",
    "pingone.com",
    "windowsupdate.com",
    "update.microsoft.com",
    "delivery.mp.microsoft.com",
    "swscan.apple.com",
    "deb.debian.org",
    "security.debian.org",
    "archive.ubuntu.com",
    "security.ubuntu.com",
    "dl.fedoraproject.org",
    "mirrors.fedoraproject.org",
    "cdn.redhat.com",
    "registry.npmjs.org",
    "pypi.org",
    "files.pythonhosted.org",
    "crates.io",
    "proxy.golang.org",
    "repo.maven.apache.org",
    "registry-1.docker.io",
    "ghcr.io",
];

/// Shared services a whole organisation uses: their own name and its
/// parents are protected, their tenants' subdomains are not
/// (`evil.sharepoint.com` may be blocked by policy, `sharepoint.com` not).
pub const PROTECTED_EXACT: &[&str] = &[
    "amazonaws.com",
    "azure.com",
    "windows.net",
    "microsoft.com",
    "office.com",
    "office365.com",
    "outlook.com",
    "outlook.office365.com",
    "sharepoint.com",
    "google.com",
    "googleapis.com",
    "gmail.com",
    "github.com",
    "githubusercontent.com",
    "apple.com",
    "cloudflare.com",
    "slack.com",
    "zoom.us",
];

/// Is every built-in pattern named in `ignore` one that exists?
pub fn unknown_ignore(ignore: &[String]) -> Option<&String> {
    ignore.iter().find(|i| {
        !BUILTIN.iter().any(|e| e.pattern == *i)
            && !PROTECTED.contains(&i.as_str())
            && !PROTECTED_EXACT.contains(&i.as_str())
    })
}
