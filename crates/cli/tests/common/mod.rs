//! What every CLI test needs: run the built `zhiying` binary as a user would, with no
//! database URL, data dir or data key leaking in from the environment.

use std::process::Command;

/// Runs `zhiying ARGS…` and returns (success, stdout, stderr).
pub fn zhiying(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zhiying"))
        .args(args)
        .env_remove("ZHIYING_DATABASE_URL")
        .env_remove("ZHIYING_DATA_DIR")
        .env_remove("ZHIYING_KEY_FILE")
        .env_remove("ZHIYING_DATA_KEY")
        .output()
        .expect("the zhiying binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
