//! The packages, end to end: `packaging/build` makes the .deb and the .rpm; their contents,
//! control data and scripts are checked; the unit passes `systemd-analyze verify`; the man page
//! covers every long option `--help` prints; the .deb is installed into a real Debian root made
//! with debootstrap (cached under target/package-test/), the installed program runs from the
//! installed paths, and removal then purge leave the root as it was. The .rpm goes through the
//! same install/erase cycle with `rpm --root`. Last, the kernel-rule cleanup that the removal
//! scripts run is tried on the real kernel (holding the kernel guard).
//!
//! Needs root and the Debian packages dpkg, rpm, debootstrap, systemd, man-db, auditd.
//! Takes a few minutes the first time (tool install, release build, debootstrap).

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn show(cmd: &Command) -> String {
    format!("{:?}", cmd).replace('"', "")
}

/// Runs `cmd`, panicking with its output unless it succeeds; returns stdout.
fn run(cmd: &mut Command) -> String {
    let out = output(cmd);
    assert!(
        out.status.success(),
        "`{}` failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        show(cmd),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run `{}`: {e}", show(cmd)))
}

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", script]);
    c
}

fn require_tools() {
    let missing: Vec<&str> = [
        "dpkg-deb",
        "dpkg",
        "rpm",
        "debootstrap",
        "systemd-analyze",
        "man",
        "chroot",
        "unshare",
        "auditctl",
    ]
    .into_iter()
    .filter(|t| !output(&mut sh(&format!("command -v {t}"))).status.success())
    .collect();
    assert!(
        missing.is_empty(),
        "missing tools {missing:?}: apt-get install rpm debootstrap systemd man-db auditd"
    );
}

fn single_file(dir: &Path, ext: &str) -> PathBuf {
    let found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one .{ext} in {}: {found:?}",
        dir.display()
    );
    found.into_iter().next().unwrap()
}

/// File names (not directories) matching `dir/*.ext` in the source tree.
fn bundled(dir: &str, ext: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(repo().join(dir))
        .unwrap_or_else(|e| panic!("{dir}/: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == ext))
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no {dir}/*.{ext} in the repository");
    names
}

/// Every path the packages must install, without the leading `/`, with the unit directory
/// that the package format uses.
fn expected_paths(unit_dir: &str) -> Vec<String> {
    let mut paths: Vec<String> = [
        "usr/sbin/auditwatch",
        "etc/auditwatch/auditwatch.toml",
        "usr/libexec/auditwatch/remove-kernel-rules",
        "usr/share/man/man8/auditwatch.8.gz",
        "usr/share/doc/auditwatch/README.md",
        "usr/share/doc/auditwatch/LICENSE",
        "usr/share/doc/auditwatch/CHANGELOG.md",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    paths.push(format!("{unit_dir}/auditwatch.service"));
    paths.extend(
        bundled("rules", "toml")
            .iter()
            .map(|n| format!("etc/auditwatch/rules/{n}")),
    );
    paths.extend(
        bundled("audit-rules", "rules")
            .iter()
            .map(|n| format!("etc/auditwatch/audit-rules/{n}")),
    );
    paths
}

/// The release binary as cargo built it, with debug info (`[profile.release] debug = 1`).
fn release_binary_size() -> u64 {
    fs::metadata(repo().join("target/release/auditwatch"))
        .unwrap()
        .len()
}

fn check_deb(deb: &Path, scratch: &Path) {
    // `dpkg-deb -c` prints `tar -tv` lines: mode owner size date time ./path
    let listing = run(Command::new("dpkg-deb").arg("-c").arg(deb));
    let entries: Vec<(String, String)> = listing
        .lines()
        .filter_map(|l| {
            let mode = l.split_whitespace().next()?.to_owned();
            let path = l
                .split_whitespace()
                .nth(5)?
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_owned();
            Some((mode, path))
        })
        .collect();
    for want in expected_paths("lib/systemd/system") {
        assert!(
            entries.iter().any(|(_, p)| *p == want),
            "deb lacks /{want}:\n{listing}"
        );
    }
    assert!(
        entries
            .iter()
            .any(|(_, p)| p == "usr/share/doc/auditwatch/copyright"),
        "deb lacks copyright"
    );
    let deb_binary_size = listing
        .lines()
        .find(|l| l.ends_with("./usr/sbin/auditwatch"))
        .and_then(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok())
        .expect("size of /usr/sbin/auditwatch in the deb");
    assert!(
        deb_binary_size < release_binary_size(),
        "the deb's binary is stripped"
    );
    for (mode, path) in &entries {
        let want_mode = match path.as_str() {
            "usr/sbin/auditwatch" | "usr/libexec/auditwatch/remove-kernel-rules" => "-rwxr-xr-x",
            p if mode.starts_with('d') || p.is_empty() => continue,
            _ => "-rw-r--r--",
        };
        assert_eq!(mode, want_mode, "mode of /{path} in the deb");
        assert!(
            !path.starts_with("var/lib/auditwatch"),
            "the state dir is made by postinst, not shipped"
        );
    }

    let control = scratch.join("deb-control");
    run(Command::new("dpkg-deb").arg("-e").arg(deb).arg(&control));
    let conffiles = fs::read_to_string(control.join("conffiles")).expect("deb has conffiles");
    assert!(
        conffiles
            .lines()
            .any(|l| l == "/etc/auditwatch/auditwatch.toml"),
        "conffiles: {conffiles}"
    );
    for script in ["postinst", "prerm", "postrm"] {
        let shipped =
            fs::read_to_string(control.join(script)).unwrap_or_else(|_| panic!("deb has {script}"));
        let source = fs::read_to_string(repo().join("packaging/debian").join(script)).unwrap();
        assert_eq!(shipped, source, "deb {script} is packaging/debian/{script}");
        assert_eq!(
            fs::metadata(control.join(script))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o755
        );
        run(Command::new("sh").arg("-n").arg(control.join(script)));
    }
    let fields = run(Command::new("dpkg-deb").arg("-f").arg(deb));
    assert!(fields.contains("Package: auditwatch"), "{fields}");
    assert!(
        fields.contains(&format!("Version: {}-1", env!("CARGO_PKG_VERSION"))),
        "{fields}"
    );
    let depends = fields
        .lines()
        .find(|l| l.starts_with("Depends:"))
        .unwrap_or_default();
    assert!(depends.contains("libc6"), "auto dependencies: {fields}");
}

fn check_rpm(rpm: &Path) {
    let files = run(Command::new("rpm").args(["-qlp"]).arg(rpm));
    let listed: BTreeSet<&str> = files.lines().collect();
    for want in expected_paths("usr/lib/systemd/system") {
        assert!(
            listed.contains(format!("/{want}").as_str()),
            "rpm lacks /{want}:\n{files}"
        );
    }
    // FILEFLAGS: c = %config, n = noreplace, d = %doc.
    let flags = run(Command::new("rpm")
        .args([
            "-qp",
            "--qf",
            "[%{FILENAMES} %{FILEFLAGS:fflags} %{FILEMODES:perms}\n]",
        ])
        .arg(rpm));
    let flag_of = |path: &str| -> (String, String) {
        let line = flags
            .lines()
            .find(|l| l.split(' ').next() == Some(path))
            .unwrap_or_else(|| panic!("{path} in {flags}"));
        let mut f = line.split(' ').skip(1);
        (
            f.next().unwrap_or("").to_owned(),
            f.next().unwrap_or("").to_owned(),
        )
    };
    assert_eq!(
        flag_of("/etc/auditwatch/auditwatch.toml"),
        ("cn".to_owned(), "-rw-r--r--".to_owned())
    );
    assert_eq!(flag_of("/usr/sbin/auditwatch").1, "-rwxr-xr-x");
    assert!(flag_of("/usr/share/doc/auditwatch/LICENSE").0.contains('d'));

    let size = run(Command::new("rpm")
        .args(["-qp", "--qf", "[%{FILENAMES} %{FILESIZES}\n]"])
        .arg(rpm));
    let rpm_binary_size = size
        .lines()
        .find_map(|l| l.strip_prefix("/usr/sbin/auditwatch "))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .expect("size of /usr/sbin/auditwatch in the rpm");
    assert!(
        rpm_binary_size < release_binary_size(),
        "the rpm's binary is stripped"
    );

    let scripts = run(Command::new("rpm").args(["-qp", "--scripts"]).arg(rpm));
    for (header, source) in [
        ("postinstall scriptlet", "post_install.sh"),
        ("preuninstall scriptlet", "pre_uninstall.sh"),
        ("postuninstall scriptlet", "post_uninstall.sh"),
    ] {
        assert!(scripts.contains(header), "rpm lacks {header}:\n{scripts}");
        let body = fs::read_to_string(repo().join("packaging/rpm").join(source)).unwrap();
        assert!(
            scripts.contains(body.trim_end()),
            "rpm {header} is packaging/rpm/{source}"
        );
        run(Command::new("sh")
            .arg("-n")
            .arg(repo().join("packaging/rpm").join(source)));
    }
    let info = run(Command::new("rpm").args(["-qip"]).arg(rpm));
    assert!(
        info.contains(&format!("Version     : {}", env!("CARGO_PKG_VERSION"))),
        "{info}"
    );
}

fn check_unit(binary: &Path, man_gz: &Path, scratch: &Path) {
    let unit = fs::read_to_string(repo().join("packaging/auditwatch.service")).unwrap();
    let directives: Vec<(&str, &str)> = unit
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .filter_map(|l| l.split_once('='))
        .collect();
    let value = |key: &str| {
        directives
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .collect::<Vec<_>>()
    };
    assert_eq!(value("Type"), ["notify"]);
    assert_eq!(
        value("ExecStart"),
        ["/usr/sbin/auditwatch run --config /etc/auditwatch/auditwatch.toml"]
    );
    assert_eq!(value("ExecReload"), ["/bin/kill -HUP $MAINPID"]);
    assert_eq!(value("Restart"), ["on-failure"]);
    assert_eq!(value("NoNewPrivileges"), ["yes"]);
    assert_eq!(value("ProtectSystem"), ["strict"]);
    let caps: BTreeSet<&str> = value("CapabilityBoundingSet")
        .iter()
        .flat_map(|v| v.split_whitespace())
        .collect();
    // Exactly the set the unit's comments justify; a new capability needs its reason there.
    let justified = [
        "CAP_AUDIT_CONTROL",
        "CAP_AUDIT_READ",
        "CAP_NET_ADMIN",
        "CAP_SYS_PTRACE",
    ];
    assert_eq!(caps, justified.into_iter().collect(), "bounding set");
    assert!(
        value("PrivateUsers").is_empty(),
        "audit needs the initial user namespace"
    );
    assert!(
        value("ProtectProc").iter().all(|v| *v != "invisible"),
        "the process table must see all of /proc"
    );
    assert!(value("Conflicts").is_empty(), "coexists with auditd");
    assert!(value("After").iter().any(|v| v.contains("network.target")));

    // verify needs the ExecStart binary and the Documentation= man page: point them at the build.
    let dir = scratch.join("unit");
    fs::create_dir_all(dir.join("man/man8")).unwrap();
    fs::write(
        dir.join("auditwatch.service"),
        unit.replace("/usr/sbin/auditwatch", &binary.display().to_string()),
    )
    .unwrap();
    fs::copy(man_gz, dir.join("man/man8/auditwatch.8.gz")).unwrap();
    let verify = output(
        Command::new("systemd-analyze")
            .arg("verify")
            .arg(dir.join("auditwatch.service"))
            .env("MANPATH", dir.join("man")),
    );
    let complaints = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(
        verify.status.success() && complaints.trim().is_empty(),
        "systemd-analyze verify: {complaints}"
    );

    // systemd's own exposure score (0 = locked down, 10 = unprotected).
    let security = run(Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(dir.join("auditwatch.service")));
    let score: f64 = security
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for auditwatch.service:")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{security}"));
    assert!(score <= 3.0, "exposure level {score} > 3.0:\n{security}");
}

/// Long options printed by `auditwatch ARGS --help`.
fn help_options(binary: &Path, args: &[&str]) -> Vec<String> {
    let help = run(Command::new(binary).args(args).arg("--help"));
    let mut opts: Vec<String> = help
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(str::to_owned)
        .collect();
    opts.sort();
    opts.dedup();
    opts
}

fn check_man_page(binary: &Path) {
    let page = repo().join("packaging/auditwatch.8");
    let rendered = output(
        Command::new("man")
            .arg("--warnings")
            .arg("-l")
            .arg(&page)
            .env("MANWIDTH", "200")
            .env("MANPAGER", "cat"),
    );
    let stderr = String::from_utf8_lossy(&rendered.stderr);
    assert!(
        rendered.status.success() && stderr.trim().is_empty(),
        "man page renders with warnings: {stderr}"
    );
    // Options are looked up in the roff source (`\-\-rules`), not in the wrapped rendering.
    let text = fs::read_to_string(&page).unwrap().replace("\\-", "-");
    let version = format!("\"auditwatch {}\"", env!("CARGO_PKG_VERSION"));
    assert!(text.contains(&version), "man page .TH names {version}");
    let commands: [&[&str]; 11] = [
        &[],
        &["run"],
        &["replay"],
        &["rules", "check"],
        &["audit-rules", "check"],
        &["audit-rules", "compile"],
        &["audit-rules", "list"],
        &["audit-rules", "load"],
        &["audit-rules", "delete"],
        &["config", "check"],
        &["status"],
    ];
    for args in commands {
        for word in args {
            assert!(text.contains(word), "man page lacks the command {args:?}");
        }
        for opt in help_options(binary, args) {
            assert!(
                text.contains(&opt),
                "man page lacks {opt} (from `auditwatch {} --help`)",
                args.join(" ")
            );
        }
    }
}

const SUITE_MARKER: &str = ".auditwatch-debootstrap-complete";

/// A minbase Debian root of the host's release, made once and kept under target/package-test/.
fn debian_root(cache: &Path) -> PathBuf {
    let os_release = fs::read_to_string("/etc/os-release").unwrap_or_default();
    let suite = os_release
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|s| s.trim_matches('"').to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "bookworm".to_owned());
    let root = cache.join(format!("rootfs-{suite}"));
    if root.join(SUITE_MARKER).exists() {
        return root;
    }
    let partial = cache.join(format!("rootfs-{suite}.partial"));
    let _ = fs::remove_dir_all(&partial);
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(cache).unwrap();
    // Debootstrap's default mirror; the same release as the host so the binary's libc matches.
    run(Command::new("debootstrap")
        .args(["--variant=minbase", &suite])
        .arg(&partial));
    fs::write(partial.join(SUITE_MARKER), "").unwrap();
    fs::rename(&partial, &root).unwrap();
    root
}

/// Runs `script` chrooted into `root` with its own /proc, in fresh mount and network namespaces
/// (the mount vanishes with the namespace; nothing in the root can reach the network).
fn in_root(root: &Path, script: &str) -> Output {
    let wrapper = "mount -t proc proc \"$1/proc\" && exec chroot \"$1\" /bin/sh -c \"$2\"";
    output(
        Command::new("unshare")
            .args(["-m", "-n", "--", "sh", "-c", wrapper, "sh"])
            .arg(root)
            .arg(script)
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
    )
}

fn in_root_ok(root: &Path, script: &str) -> String {
    let out = in_root(root, script);
    assert!(
        out.status.success(),
        "in the Debian root `{script}` failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every path in the root (relative), to compare before install and after purge.
fn tree(root: &Path) -> BTreeSet<String> {
    run(Command::new("find").arg(".").current_dir(root))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Paths whose appearance or change is bookkeeping of dpkg/rpm rather than package residue.
fn is_bookkeeping(path: &str) -> bool {
    [
        "./var/lib/dpkg/",
        "./var/log/",
        "./var/cache/",
        "./tmp/",
        "./var/lib/rpm",
        "./usr/lib/sysimage/rpm",
        "./var/lib/systemd/deb-systemd-helper-",
    ]
    .iter()
    .any(|p| path.starts_with(p))
        || path == "./var/lib/systemd"
        || path == "./usr/lib/sysimage"
}

fn residue(before: &BTreeSet<String>, after: &BTreeSet<String>) -> Vec<String> {
    after
        .symmetric_difference(before)
        .filter(|p| !is_bookkeeping(p))
        .cloned()
        .collect()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn check_installed_program(root: &Path) {
    let version = in_root_ok(root, "/usr/sbin/auditwatch --version");
    assert!(
        version.contains(env!("CARGO_PKG_VERSION")),
        "--version: {version}"
    );
    in_root_ok(root, "auditwatch rules check /etc/auditwatch/rules");
    in_root_ok(
        root,
        "auditwatch audit-rules check /etc/auditwatch/audit-rules",
    );
    in_root_ok(root, "auditwatch config check");
    assert_eq!(
        mode(&root.join("var/lib/auditwatch")),
        0o750,
        "state dir mode"
    );
    assert_eq!(mode(&root.join("usr/sbin/auditwatch")), 0o755);
}

fn deb_cycle(root: &Path, deb: &Path) {
    let before = tree(root);
    fs::copy(deb, root.join("tmp/auditwatch.deb")).unwrap();
    in_root_ok(root, "dpkg -i /tmp/auditwatch.deb");
    let status = in_root_ok(root, "dpkg-query -W -f '${Status}' auditwatch");
    assert_eq!(status, "install ok installed");
    check_installed_program(root);
    // postinst enabled the unit (deb-systemd-helper, no running systemd needed) but started
    // nothing: there is no systemd in the root.
    let wants = root.join("etc/systemd/system/multi-user.target.wants/auditwatch.service");
    assert_eq!(
        fs::read_link(&wants).expect("unit enabled"),
        Path::new("/lib/systemd/system/auditwatch.service")
    );

    // An admin's edit and an admin's own rule file: removal keeps them, purge takes them.
    fs::write(
        root.join("etc/auditwatch/auditwatch.toml"),
        "# edited by the admin\n",
    )
    .unwrap();
    fs::write(
        root.join("etc/auditwatch/rules/zz-local.toml"),
        "# local rule file\n",
    )
    .unwrap();
    in_root_ok(root, "dpkg -r auditwatch");
    assert_eq!(
        in_root_ok(root, "dpkg-query -W -f '${Status}' auditwatch"),
        "deinstall ok config-files"
    );
    assert!(!root.join("usr/sbin/auditwatch").exists(), "binary removed");
    assert!(
        !root.join("lib/systemd/system/auditwatch.service").exists(),
        "unit removed"
    );
    assert!(
        root.join("etc/auditwatch/auditwatch.toml").exists(),
        "conffile kept until purge"
    );
    assert!(
        root.join("var/lib/auditwatch").is_dir(),
        "state kept until purge"
    );

    in_root_ok(root, "dpkg -P auditwatch");
    let gone = in_root(root, "dpkg-query -W auditwatch");
    assert!(!gone.status.success(), "package still known after purge");
    for path in [
        "etc/auditwatch",
        "var/lib/auditwatch",
        "var/log/auditwatch",
        "etc/systemd/system/multi-user.target.wants/auditwatch.service",
    ] {
        assert!(
            fs::symlink_metadata(root.join(path)).is_err(),
            "/{path} left after purge"
        );
    }
    fs::remove_file(root.join("tmp/auditwatch.deb")).unwrap();
    let left = residue(&before, &tree(root));
    assert!(left.is_empty(), "purge left or removed files: {left:?}");
}

fn rpm_cycle(root: &Path, rpm: &Path) {
    // rpm runs the scriptlets chrooted into --root, with the Debian root's /bin/sh. --nodeps: the
    // root has no rpm database of its glibc.
    let rpm_root = |args: &str| -> Output {
        output(&mut sh(&format!(
            "unshare -m -n -- rpm --root {} {args}",
            root.display()
        )))
    };
    let ok = |args: &str| {
        let out = rpm_root(args);
        assert!(
            out.status.success(),
            "rpm {args}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ok("--initdb");
    let before = tree(root);
    ok(&format!("-i --nodeps {}", rpm.display()));
    assert!(ok("-q auditwatch").starts_with("auditwatch-"));
    check_installed_program(root);
    assert!(root
        .join("usr/lib/systemd/system/auditwatch.service")
        .is_file());
    // %config(noreplace): an edited config file survives erasure as *.rpmsave.
    let config = root.join("etc/auditwatch/auditwatch.toml");
    fs::write(&config, "# edited by the admin\n").unwrap();
    ok("-e auditwatch");
    let saved = root.join("etc/auditwatch/auditwatch.toml.rpmsave");
    assert_eq!(
        fs::read_to_string(&saved).ok().as_deref(),
        Some("# edited by the admin\n")
    );
    fs::remove_dir_all(root.join("etc/auditwatch")).unwrap();
    assert!(
        !rpm_root("-q auditwatch").status.success(),
        "rpm still installed"
    );
    for path in [
        "usr/sbin/auditwatch",
        "etc/auditwatch",
        "var/lib/auditwatch",
        "usr/lib/systemd/system/auditwatch.service",
    ] {
        assert!(
            fs::symlink_metadata(root.join(path)).is_err(),
            "/{path} left after rpm -e"
        );
    }
    let left = residue(&before, &tree(root));
    assert!(left.is_empty(), "rpm -e left or removed files: {left:?}");
}

/// The removal scripts' kernel cleanup deletes rules keyed `auditwatch*` and nothing else, and
/// in a chroot it leaves the (host's) kernel alone.
fn check_kernel_rule_cleanup(root: &Path) {
    let _guard = common::kernel::kernel_guard();
    let auditctl = |args: &str| run(&mut sh(&format!("auditctl {args}")));
    let watched = std::env::temp_dir().join("auditwatch-package-test-watch");
    fs::write(&watched, "").unwrap();
    auditctl("-a always,exit -F arch=b64 -S fchmodat -k auditwatch_pkgtest");
    auditctl(&format!(
        "-w {} -p wa -k auditwatch_pkgtest_watch",
        watched.display()
    ));
    auditctl("-a always,exit -F arch=b64 -S fchownat -k pkgtest_not_ours");
    // A key of the bundled kernel rules counts as ours too.
    let bundled_key = bundled("audit-rules", "rules")
        .iter()
        .flat_map(|f| {
            let text = fs::read_to_string(repo().join("audit-rules").join(f)).unwrap();
            let words: Vec<String> = text
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .flat_map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
                .collect();
            words
                .windows(2)
                .filter_map(|w| match w[0].as_str() {
                    "-k" => Some(w[1].clone()),
                    _ => w[1].strip_prefix("key=").map(str::to_owned),
                })
                .collect::<Vec<_>>()
        })
        .next()
        .expect("the bundled kernel rules have keys");
    auditctl(&format!(
        "-a always,exit -F arch=b64 -S fremovexattr -k {bundled_key}"
    ));

    // In the Debian root, an auditctl that records its calls: the helper must not get that far.
    let helper = repo().join("packaging/remove-kernel-rules");
    fs::copy(&helper, root.join("tmp/remove-kernel-rules")).unwrap();
    let fake = root.join("usr/sbin/auditctl");
    fs::write(&fake, "#!/bin/sh\necho \"$@\" >>/tmp/auditctl-called\n").unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    in_root_ok(root, "/tmp/remove-kernel-rules");
    assert!(
        !root.join("tmp/auditctl-called").exists(),
        "the cleanup ran auditctl in a chroot"
    );

    let out = run(Command::new(&helper).env("AUDITWATCH_AUDIT_RULES", repo().join("audit-rules")));
    assert!(out.contains("removed 3 leftover"), "cleanup said: {out}");
    assert!(
        !left_contains_key(&auditctl("-l"), &bundled_key),
        "bundled-key rule left"
    );
    let left = auditctl("-l");
    assert!(
        !left.contains("auditwatch_pkgtest"),
        "our rules left: {left}"
    );
    assert!(
        left.contains("pkgtest_not_ours"),
        "another key's rule was removed: {left}"
    );
    let _ = fs::remove_file(&watched);
}

fn left_contains_key(rules: &str, key: &str) -> bool {
    rules
        .lines()
        .any(|l| l.contains(&format!("key={key}")) || l.contains(&format!("-k {key}")))
}

#[test]
fn packages_build_install_remove_and_purge() {
    require_tools();
    let target = repo().join("target");
    let scratch = target.join("package-test/scratch");
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch).unwrap();

    run(Command::new("bash")
        .arg(repo().join("packaging/build"))
        .current_dir(repo())
        .env_remove("CARGO_TARGET_DIR"));
    let packages = target.join("packages");
    let deb = single_file(&packages, "deb");
    let rpm = single_file(&packages, "rpm");
    let binary = target.join("release/auditwatch");

    check_deb(&deb, &scratch);
    check_rpm(&rpm);
    check_unit(&binary, &packages.join("stage/auditwatch.8.gz"), &scratch);
    check_man_page(&binary);

    let base = debian_root(&target.join("package-test"));
    let root = scratch.join("root");
    run(Command::new("cp").arg("-a").arg(&base).arg(&root));
    deb_cycle(&root, &deb);
    rpm_cycle(&root, &rpm);
    check_kernel_rule_cleanup(&root);
    fs::remove_dir_all(&scratch).unwrap();
}
