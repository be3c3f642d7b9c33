//! The files `oauth-server` writes, against someone who can plant links or files beside them:
//! `add-client` keeps the clients file's permission bits (a new file is 0600), creates its
//! temporary file exclusively and never through a link, and takes its lock file only as a
//! regular file; `gen-certs --force` leaves `server.key` 0600 whatever was there, and never
//! writes through a link. Each planted link points at a victim file that must come out
//! untouched.

#![cfg(unix)]

mod support;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use support::child::{run, OAUTH_SERVER};
use support::*;
use tollgate::auth::clients_file::{add_client, Registration};

fn oauth_server(args: &[&str]) -> Output {
    run(
        Command::new(OAUTH_SERVER).args(args),
        Duration::from_secs(20),
    )
}

fn add_client_command(file: &Path, id: &str) -> Output {
    oauth_server(&["add-client", "--clients", path(file), "--id", id])
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o7777
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A file someone cares about, with known contents and mode 0640.
fn victim(dir: &Path) -> PathBuf {
    let victim = dir.join("victim");
    fs::write(&victim, "precious").expect("write victim");
    chmod(&victim, 0o640);
    victim
}

fn assert_untouched(victim: &Path) {
    assert_eq!(
        fs::read_to_string(victim).unwrap(),
        "precious",
        "written through a link"
    );
    assert_eq!(mode(victim), 0o640, "its mode was changed through a link");
}

#[test]
fn add_client_makes_a_new_clients_file_0600_and_keeps_the_bits_of_an_existing_one() {
    let dir = temp_dir("modes");
    let file = dir.join("clients.json");
    assert!(add_client_command(&file, "svc").status.success());
    assert_eq!(
        mode(&file),
        0o600,
        "a new clients file is the owner's alone"
    );
    for kept in [0o640, 0o400, 0o644] {
        chmod(&file, kept);
        let output = add_client_command(&file, "other");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            mode(&file),
            kept,
            "the permission bits someone set were changed"
        );
    }
    let text = fs::read_to_string(&file).unwrap();
    assert!(text.contains("\"svc\"") && text.contains("\"other\""));
}

#[test]
fn add_client_never_writes_through_a_link_planted_at_its_temporary_name() {
    let dir = temp_dir("tmp-link");
    let file = dir.join("clients.json");
    add_client(&file, &Registration::new("svc", vec![], false)).unwrap();
    let before = fs::read(&file).unwrap();
    let victim = victim(&dir);
    // The temporary name of a run in this process.
    let tmp = dir.join(format!("clients.json.tmp.{}", std::process::id()));
    for target in [victim.clone(), dir.join("nowhere")] {
        symlink(&target, &tmp).unwrap();
        let err = add_client(&file, &Registration::new("new", vec![], false)).unwrap_err();
        assert!(err.to_string().contains("cannot create"), "{err}");
        assert_untouched(&victim);
        assert!(
            !dir.join("nowhere").exists(),
            "a dangling link was followed"
        );
        assert_eq!(fs::read(&file).unwrap(), before, "the clients file changed");
        assert!(fs::symlink_metadata(&tmp).unwrap().file_type().is_symlink());
        fs::remove_file(&tmp).unwrap();
    }
    // With the name free again, the update works.
    add_client(&file, &Registration::new("new", vec![], false)).unwrap();
}

#[test]
fn add_client_refuses_a_lock_file_that_is_a_link_or_not_a_regular_file() {
    let dir = temp_dir("lock-link");
    let file = dir.join("clients.json");
    assert!(add_client_command(&file, "svc").status.success());
    let before = fs::read(&file).unwrap();
    let lock = dir.join("clients.json.lock");
    fs::remove_file(&lock).unwrap();
    let victim = victim(&dir);
    for (what, plant) in [
        ("a link to a file", Some(victim.clone())),
        ("a dangling link", Some(dir.join("nowhere"))),
        ("a directory", None),
    ] {
        match &plant {
            Some(target) => symlink(target, &lock).unwrap(),
            None => fs::create_dir(&lock).unwrap(),
        }
        let output = add_client_command(&file, "other");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "{what} was taken as the lock file"
        );
        assert!(stderr.contains("clients.json.lock"), "{what}: {stderr}");
        assert_untouched(&victim);
        assert!(!dir.join("nowhere").exists(), "{what} was followed");
        assert_eq!(
            fs::read(&file).unwrap(),
            before,
            "{what}: the clients file changed"
        );
        match plant {
            Some(_) => fs::remove_file(&lock).unwrap(),
            None => fs::remove_dir(&lock).unwrap(),
        }
    }
    // A lock file left by an earlier run is a regular file, and is used.
    fs::write(&lock, "").unwrap();
    assert!(add_client_command(&file, "other").status.success());
}

#[test]
fn gen_certs_force_leaves_server_key_0600_even_over_a_0644_file() {
    let dir = temp_dir("key-mode");
    assert!(oauth_server(&["gen-certs", "--out", path(&dir)])
        .status
        .success());
    let key = dir.join("server.key");
    let old_key = fs::read(&key).unwrap();
    chmod(&key, 0o644);
    let output = oauth_server(&["gen-certs", "--out", path(&dir), "--force"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(mode(&key), 0o600, "server.key is readable by others");
    assert_ne!(fs::read(&key).unwrap(), old_key, "the key was not replaced");
    assert_eq!(mode(&dir.join("server.pem")), 0o644);
    assert_eq!(mode(&dir.join("ca.pem")), 0o644);
}

#[test]
fn gen_certs_never_writes_through_a_link_planted_over_server_key() {
    let dir = temp_dir("key-link");
    let victim = victim(&dir);
    let key = dir.join("server.key");
    symlink(&victim, &key).unwrap();
    // Without --force a link counts as an existing file, even a dangling one.
    let output = oauth_server(&["gen-certs", "--out", path(&dir)]);
    assert!(!output.status.success(), "gen-certs wrote over a link");
    assert!(!dir.join("ca.pem").exists());
    let output = oauth_server(&["gen-certs", "--out", path(&dir), "--force"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_untouched(&victim);
    let metadata = fs::symlink_metadata(&key).unwrap();
    assert!(metadata.file_type().is_file(), "server.key is still a link");
    assert_eq!(mode(&key), 0o600);
    assert!(fs::read_to_string(&key).unwrap().contains("PRIVATE KEY"));

    let dangling = temp_dir("key-dangling");
    symlink(dangling.join("nowhere"), dangling.join("server.key")).unwrap();
    assert!(!oauth_server(&["gen-certs", "--out", path(&dangling)])
        .status
        .success());
    assert!(!dangling.join("nowhere").exists());
}
