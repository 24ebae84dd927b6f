//! A real PostgreSQL for tests: the server deploy/local/test.sh starts on
//! loopback (`DFSTORE_TEST_PG`, admin password in `DFSTORE_TEST_PG_PASSWORD`).
//! Each test gets a database and a read-only role of its own, dropped when
//! the test ends.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use tokio_postgres::{Client, NoTls};

/// The admin URL and password, or a panic that says how to get them.
fn admin() -> (String, String) {
    let url = std::env::var("DFSTORE_TEST_PG").unwrap_or_else(|_| {
        panic!(
            "DFSTORE_TEST_PG is not set: run the tests with deploy/local/test.sh, which starts PostgreSQL on loopback"
        )
    });
    let password = std::env::var("DFSTORE_TEST_PG_PASSWORD").expect("DFSTORE_TEST_PG_PASSWORD");
    (url, password)
}

/// Runs `f` on a fresh connection as `url`'s user, on a runtime of its own.
pub fn with_client<T: Send + 'static>(
    url: &str,
    password: &str,
    f: impl for<'a> FnOnce(
        &'a Client,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>
    + Send
    + 'static,
) -> T {
    let (url, password) = (url.to_string(), password.to_string());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut config: tokio_postgres::Config = url.parse().unwrap();
            config.password(password);
            let (client, connection) = config.connect(NoTls).await.unwrap();
            tokio::spawn(connection);
            f(&client).await
        })
    })
    .join()
    .unwrap()
}

/// A database of one test: `owner` creates and changes `retail`, `reader`
/// may only read it.
pub struct TestDb {
    pub name: String,
    admin_url: String,
    admin_password: String,
    host_port: String,
    pub owner_password: String,
    pub reader_password: String,
}

impl TestDb {
    pub fn new() -> Self {
        let (admin_url, admin_password) = admin();
        let id = uuid::Uuid::now_v7().simple().to_string();
        let name = format!("t{}", &id[id.len() - 12..]);
        let host_port = admin_url
            .trim_start_matches("postgresql://")
            .split('@')
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let db = TestDb {
            owner_password: format!("own-{id}"),
            reader_password: format!("read-{id}"),
            name,
            admin_url,
            admin_password,
            host_port,
        };
        let (name, owner, reader) = (
            db.name.clone(),
            db.owner_password.clone(),
            db.reader_password.clone(),
        );
        with_client(&db.admin_url, &db.admin_password, move |c| {
            Box::pin(async move {
                // CREATE DATABASE must run alone, outside a transaction.
                for statement in [
                    format!("CREATE ROLE {name}_owner LOGIN PASSWORD '{owner}'"),
                    format!("CREATE ROLE {name}_reader LOGIN PASSWORD '{reader}'"),
                    format!("GRANT {name}_owner TO CURRENT_USER"),
                    format!("CREATE DATABASE {name} OWNER {name}_owner"),
                ] {
                    c.batch_execute(&statement).await.unwrap();
                }
            })
        });
        db
    }

    /// The owner's URL (no password: tests pass it in PGPASSWORD).
    pub fn owner_url(&self) -> String {
        format!(
            "postgresql://{}_owner@{}/{}",
            self.name, self.host_port, self.name
        )
    }

    /// The read-only role's URL.
    pub fn reader_url(&self) -> String {
        format!(
            "postgresql://{}_reader@{}/{}",
            self.name, self.host_port, self.name
        )
    }

    /// Lets the reader read `retail` (after `source init` created it).
    pub fn grant_reader(&self) {
        let name = self.name.clone();
        self.owner(move |c| {
            Box::pin(async move {
                c.batch_execute(&format!(
                    "GRANT USAGE ON SCHEMA retail TO {name}_reader;
                     GRANT SELECT ON ALL TABLES IN SCHEMA retail TO {name}_reader;"
                ))
                .await
                .unwrap();
            })
        });
    }

    /// Runs `f` connected as the owner.
    pub fn owner<T: Send + 'static>(
        &self,
        f: impl for<'a> FnOnce(
            &'a Client,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>
        + Send
        + 'static,
    ) -> T {
        with_client(&self.owner_url(), &self.owner_password, f)
    }

    /// Runs `f` connected as the admin (to this test's database).
    pub fn admin<T: Send + 'static>(
        &self,
        f: impl for<'a> FnOnce(
            &'a Client,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>
        + Send
        + 'static,
    ) -> T {
        let url = format!(
            "postgresql://dfstore_admin@{}/{}",
            self.host_port, self.name
        );
        with_client(&url, &self.admin_password, f)
    }
}

/// A transaction of the owner's, held open on a thread of its own until
/// released: what a test makes another session wait for.
pub struct Held {
    release: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Held {
    /// Ends the transaction (with the statement given to [`TestDb::hold`]).
    pub fn release(self) {
        self.release.send(()).unwrap();
        self.thread.join().unwrap();
    }
}

impl TestDb {
    /// Runs `begin` as the owner (it should `BEGIN` and take a lock or
    /// write a row) and keeps its transaction open until released, then
    /// runs `end` (`ROLLBACK` or `COMMIT`).
    pub fn hold(&self, begin: String, end: &'static str) -> Held {
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (held, is_held) = std::sync::mpsc::channel::<()>();
        let (url, password) = (self.owner_url(), self.owner_password.clone());
        let thread = std::thread::spawn(move || {
            with_client(&url, &password, move |c| {
                Box::pin(async move {
                    c.batch_execute(&begin).await.unwrap();
                    held.send(()).unwrap();
                    let _ = tokio::task::spawn_blocking(move || released.recv()).await;
                    c.batch_execute(end).await.unwrap();
                })
            })
        });
        is_held.recv().unwrap();
        Held { release, thread }
    }

    /// Runs `count` (a query of one bigint, as the admin) until it gives at
    /// least `n`, for at most a minute; returns the last count.
    pub fn wait_for(&self, count: &str, n: i64) -> i64 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let sql = count.to_string();
            let found: i64 = self.admin(move |c| {
                Box::pin(async move { c.query_one(&sql, &[]).await.unwrap().get(0) })
            });
            if found >= n || std::time::Instant::now() > deadline {
                return found;
            }
            std::thread::yield_now();
        }
    }
}

impl TestDb {
    /// `dfstore source ARGS… --pg <owner>`, run in `dir` (no lake); the
    /// lines it printed.
    pub fn source(&self, dir: &super::cli::TestLake, args: &[&str]) -> Vec<String> {
        let mut cmd = super::cli::dfstore(dir.dir.path());
        cmd.arg("source")
            .args(args)
            .arg("--pg")
            .arg(self.owner_url())
            .env("PGPASSWORD", &self.owner_password);
        super::cli::stdout_lines(cmd.output().unwrap())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        with_client(&self.admin_url, &self.admin_password, move |c| {
            Box::pin(async move {
                for statement in [
                    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    format!("DROP ROLE IF EXISTS {name}_reader"),
                    format!("DROP ROLE IF EXISTS {name}_owner"),
                ] {
                    let _ = c.batch_execute(&statement).await;
                }
            })
        });
    }
}

/// A database holding the retail demo data (`dfstore source init` at
/// `scale` and `seed`) and the example project's returns table
/// (`source/devoluciones.sql` of `project`), and a full extraction of every
/// source `project` declares into each of `lakes` (`dfstore ingest`).
pub fn example_source(
    project: &std::path::Path,
    (scale, seed): (&str, &str),
    lakes: &[&super::cli::TestLake],
) -> TestDb {
    let db = TestDb::new();
    let said = db.source(lakes[0], &["init", "--scale", scale, "--seed", seed]);
    assert!(!said.is_empty(), "source init printed nothing");
    let script = std::fs::read_to_string(project.join("source/devoluciones.sql")).unwrap();
    db.owner(move |c| {
        Box::pin(async move {
            c.batch_execute(&script).await.unwrap();
        })
    });
    db.grant_reader();
    for lake in lakes {
        lake.cmd(&[
            "ingest",
            "--project",
            project.to_str().unwrap(),
            "--pg",
            &db.reader_url(),
        ])
        .env("PGPASSWORD", &db.reader_password)
        .assert()
        .success();
    }
    db
}
