//! The product databases' bootstrap, rendered by the real `aerie env render`
//! from the example spec, run against a real MariaDB server the way the
//! rendered `db-bootstrap.sh` runs it on a node (the product password set
//! first on the client's input, then the SQL); read back with the real
//! `mariadb` client.

use std::process::{Command, Output};

use aerie_system_tests::binary;
use aerie_testkit::{MariaDb, workspace_root};

const PRODUCT_PASSWORD: &str = "a 'quoted' product password";

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The example's bootstrap SQL, as `aerie env render` writes it.
fn rendered_sql() -> String {
    let out = tempfile::tempdir().unwrap();
    let rendered = Command::new(binary("aerie"))
        .args(["env", "render", "--spec"])
        .arg(workspace_root().join("examples/acme.toml"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(rendered.status.success(), "{}", text(&rendered));
    std::fs::read_to_string(out.path().join("traffic-manager-1/db-bootstrap.sql")).unwrap()
}

/// What `db-bootstrap.sh` pipes into the client: the password, quoted as
/// the script quotes it, then the SQL.
fn bootstrap_input(sql: &str) -> String {
    format!(
        "SET @product_password = '{}';\n{sql}",
        PRODUCT_PASSWORD.replace('\'', "''")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_makes_the_three_databases_and_a_user_confined_to_them_and_runs_twice() {
    let db = MariaDb::start().await.unwrap_or_else(|e| panic!("{e}"));
    let sql = rendered_sql();
    assert!(
        !sql.contains(PRODUCT_PASSWORD),
        "no password in the rendered SQL"
    );
    for run in 1..=2 {
        let output = db.root(&bootstrap_input(&sql));
        assert!(output.status.success(), "run {run}: {}", text(&output));
    }
    let databases = db.root("SHOW DATABASES;");
    let databases = String::from_utf8_lossy(&databases.stdout).to_string();
    for name in ["apimgt", "usermgt", "registry"] {
        assert!(
            databases.lines().any(|l| l == name),
            "{name} in {databases}"
        );
    }
    let users = db.root("SELECT COUNT(*) FROM mysql.user WHERE User = 'wso2';");
    assert_eq!(
        String::from_utf8_lossy(&users.stdout).trim(),
        "1",
        "one user, twice run"
    );

    // The product user reaches its three databases, and only them.
    let seen = db.as_user("wso2", PRODUCT_PASSWORD, "SHOW DATABASES;");
    assert!(seen.status.success(), "{}", text(&seen));
    let mut seen: Vec<String> = String::from_utf8_lossy(&seen.stdout)
        .lines()
        .map(str::to_owned)
        .filter(|name| name != "information_schema")
        .collect();
    seen.sort();
    assert_eq!(seen, ["apimgt", "registry", "usermgt"]);
    let create = db.as_user(
        "wso2",
        PRODUCT_PASSWORD,
        "CREATE TABLE apimgt.probe (id INT); DROP TABLE apimgt.probe;",
    );
    assert!(create.status.success(), "{}", text(&create));
    let other = db.as_user("wso2", PRODUCT_PASSWORD, "SELECT COUNT(*) FROM mysql.user;");
    assert!(
        !other.status.success(),
        "the product user reads mysql.user: {}",
        text(&other)
    );
    let wrong = db.as_user("wso2", "not the password", "SELECT 1;");
    assert!(!wrong.status.success(), "a wrong password is refused");
}
