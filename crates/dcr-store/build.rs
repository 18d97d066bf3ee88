//! `sqlx::migrate!` embeds the migration directories when this crate compiles: a migration
//! added or changed must rebuild it (cargo scans a directory named here for any change).
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
