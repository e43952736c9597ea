#!/usr/bin/env bash
# The MSI tables wixl 0.101 cannot write, added to a wixl-built finesse-sso MSI with msibuild
# (msitools) SQL: the HKMU registry root, the PATH entry (Environment) and the locked
# %ProgramData%\finesse-sso folder of per-machine installs (CreateFolder + LockPermissions).
#   bash packaging/windows/msi-tables.sh finesse-sso-<version>-x86_64.msi
# Run once on a fresh wixl output (.ci/windows-package, .ci/wine-msi); checked by .ci/windows-package.
# Component GUIDs below never change (component rules: same GUID, same resources, every version).
set -euo pipefail
msi=${1:?usage: msi-tables.sh MSI}
[ -f "$msi" ] || { echo "msi-tables: no $msi" >&2; exit 1; }
q() { msibuild "$msi" -q "$1"; }

# wixl writes Root=4 for HKMU; Windows Installer's value is -1 (HKCU per-user, HKLM per-machine).
q "UPDATE Registry SET Root = -1 WHERE Root = 4"

# --- PATH: INSTALLDIR appended on install, exactly that entry removed on uninstall. ---
# Windows Installer resets ALLUSERS=2 to "" (per-user) or 1 (per-machine) before costing, so
# `NOT ALLUSERS` / `ALLUSERS` pick exactly one component. `ALLUSERS` rather than `ALLUSERS=1`:
# Wine keeps 2 and installs per-machine, and the system PATH is then the right one.
# Attributes 260 = 64-bit (256) + registry key path (4); each key path is an HKMU value of its own.
q "INSERT INTO Component (Component, ComponentId, Directory_, Attributes, Condition, KeyPath)
   VALUES ('PathUser', '{2194C7FB-DC53-456C-A9D0-EBB4FEC436A3}', 'INSTALLDIR', 260, 'NOT ALLUSERS', 'regPathUser')"
q "INSERT INTO Component (Component, ComponentId, Directory_, Attributes, Condition, KeyPath)
   VALUES ('PathMachine', '{FA1C0F4C-59D8-4875-87F2-06A22EE754F8}', 'INSTALLDIR', 260, 'ALLUSERS', 'regPathMachine')"
q "INSERT INTO Registry (Registry, Root, \`Key\`, Name, Value, Component_)
   VALUES ('regPathUser', -1, 'Software\\finesse-sso', 'PathEntry', 'user', 'PathUser')"
q "INSERT INTO Registry (Registry, Root, \`Key\`, Name, Value, Component_)
   VALUES ('regPathMachine', -1, 'Software\\finesse-sso', 'PathEntry', 'system', 'PathMachine')"
q "CREATE TABLE \`Environment\` (\`Environment\` CHAR(72) NOT NULL, \`Name\` CHAR(255) NOT NULL LOCALIZABLE,
   \`Value\` CHAR(255) LOCALIZABLE, \`Component_\` CHAR(72) NOT NULL PRIMARY KEY \`Environment\`)"
# Name prefixes: `=` set on install, `-` remove on uninstall, `*` the system variable;
# `[~];` keeps the existing value in front (append).
q "INSERT INTO Environment (Environment, Name, Value, Component_)
   VALUES ('envPathUser', '=-PATH', '[~];[INSTALLDIR]', 'PathUser')"
q "INSERT INTO Environment (Environment, Name, Value, Component_)
   VALUES ('envPathMachine', '=-*PATH', '[~];[INSTALLDIR]', 'PathMachine')"

# --- %ProgramData%\finesse-sso, per-machine only, writable by Administrators and SYSTEM only. ---
# A folder a user created first (users may create folders under ProgramData and own them) is
# what machine_file::trusted_machine_file refuses; LockPermissions replaces the inherited ACEs.
# The folder's own key path (KeyPath NULL); RemoveFolders removes it on uninstall only if empty,
# so an administrator's config.toml stays.
q "INSERT INTO Directory (Directory, Directory_Parent, DefaultDir) VALUES ('CommonAppDataFolder', 'TARGETDIR', '.')"
q "INSERT INTO Directory (Directory, Directory_Parent, DefaultDir) VALUES ('MACHINECONFIGDIR', 'CommonAppDataFolder', 'finesse-sso')"
q "INSERT INTO Component (Component, ComponentId, Directory_, Attributes, Condition)
   VALUES ('MachineConfigDir', '{EEE2B55A-C1FD-4CDA-AACF-21DAEF1FFB34}', 'MACHINECONFIGDIR', 256, 'ALLUSERS')"
q "INSERT INTO CreateFolder (Directory_, Component_) VALUES ('MACHINECONFIGDIR', 'MachineConfigDir')"
q "CREATE TABLE \`LockPermissions\` (\`LockObject\` CHAR(72) NOT NULL, \`Table\` CHAR(32) NOT NULL, \`Domain\` CHAR(255),
   \`User\` CHAR(255) NOT NULL, \`Permission\` LONG PRIMARY KEY \`LockObject\`, \`Table\`, \`Domain\`, \`User\`)"
# Well-known names msiexec resolves; GENERIC_ALL = 0x10000000, GENERIC_READ|GENERIC_EXECUTE =
# 0xA0000000 (as a signed i4).
for ace in 'Administrators 268435456' 'SYSTEM 268435456' 'Users -1610612736'; do
    read -r user mask <<<"$ace"
    q "INSERT INTO LockPermissions (LockObject, \`Table\`, \`User\`, Permission)
       VALUES ('MACHINECONFIGDIR', 'CreateFolder', '$user', $mask)"
done

for comp in PathUser PathMachine MachineConfigDir; do
    q "INSERT INTO FeatureComponents (Feature_, Component_) VALUES ('Main', '$comp')"
done

# Actions wixl does not schedule (standard sequence numbers); an existing row is left alone.
sequence() {
    if ! msiinfo export "$msi" InstallExecuteSequence | tr -d '\r' | cut -f1 | grep -qx "$1"; then
        q "INSERT INTO InstallExecuteSequence (Action, Sequence) VALUES ('$1', $2)"
    fi
}
sequence RemoveEnvironmentStrings 3300
sequence RemoveFolders 3600
sequence CreateFolders 3700
sequence WriteEnvironmentStrings 5200
