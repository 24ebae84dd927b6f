//! A real S3-compatible server for tests: moto's server (PyPI `moto[server]`,
//! installed by deploy/local/test.sh into /var/tmp/dfstore-venv) on a free
//! loopback port, stopped when dropped.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::cli::stdout_lines;
use super::cluster::{free_port, http};

/// Credentials the tests give dfstore; moto accepts any.
pub const ACCESS_KEY: &str = "dfstore-test-access";
/// The secret; tests assert it never appears in output.
pub const SECRET_KEY: &str = "dfstore-test-secret-9f8e7d6c";

/// The moto_server executable: `$DFSTORE_MOTO_SERVER`, the test virtual
/// environment, or the PATH.
fn moto_server() -> PathBuf {
    if let Some(p) = std::env::var_os("DFSTORE_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from("/var/tmp/dfstore-venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("moto_server"))
            .find(|p| p.exists())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "moto_server is not installed: run deploy/local/test.sh, which installs `moto[server]` into /var/tmp/dfstore-venv, or set DFSTORE_MOTO_SERVER"
        )
    })
}

/// The Python of the environment `server` is installed in.
fn python_beside(server: &std::path::Path) -> PathBuf {
    let python = server.with_file_name("python3");
    if python.exists() {
        python
    } else {
        PathBuf::from("python3")
    }
}

/// A running moto server.
pub struct S3Server {
    pub port: u16,
    child: Child,
    server: PathBuf,
}

impl S3Server {
    /// Starts the server and waits until it answers.
    pub fn start() -> Self {
        let server = moto_server();
        Self::launch(Command::new(&server), server)
    }

    /// Starts the server through `moto_iam.py`, which mends moto's check of
    /// signed requests (see that file), for a test that turns IAM
    /// enforcement on ([`Self::enforce_iam`]).
    pub fn start_for_iam() -> Self {
        let server = moto_server();
        let mut python = Command::new(python_beside(&server));
        python.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/common/moto_iam.py"
        ));
        Self::launch(python, server)
    }

    fn launch(mut command: Command, server: PathBuf) -> Self {
        let port = free_port();
        let child = command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let s3 = S3Server {
            port,
            child,
            server,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while s3.request("GET", "/moto-api/").is_none() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        s3
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket.
    pub fn create_bucket(&self, bucket: &str) {
        let status = self.request("PUT", &format!("/{bucket}")).unwrap();
        assert_eq!(status, 200, "creating bucket {bucket}");
    }

    /// The environment a dfstore process needs to reach this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
        ]
    }

    /// Server-side encryption of every object under `bucket/prefix`, read
    /// with boto3 from moto's own Python: `(key, algorithm or "")`.
    pub fn encryption(&self, bucket: &str, prefix: &str) -> Vec<(String, String)> {
        let python = self.python();
        let script = format!(
            "import boto3\n\
             s3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='a', aws_secret_access_key='b', region_name='us-east-1')\n\
             for page in s3.get_paginator('list_objects_v2').paginate(Bucket='{bucket}', Prefix='{prefix}'):\n\
             \x20   for o in page.get('Contents', []):\n\
             \x20       h = s3.head_object(Bucket='{bucket}', Key=o['Key'])\n\
             \x20       print(o['Key'] + '\\t' + h.get('ServerSideEncryption', ''))\n",
            self.endpoint()
        );
        let out = Command::new(python).arg("-c").arg(script).output().unwrap();
        stdout_lines(out)
            .iter()
            .map(|l| {
                let (k, v) = l.split_once('\t').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    /// Stores `value` as the Secrets Manager secret `name`; returns its ARN.
    pub fn create_secret(&self, name: &str, value: &str) -> String {
        let script = format!(
            "import boto3, sys\n\
             sm = boto3.client('secretsmanager', endpoint_url='{}', aws_access_key_id='a', aws_secret_access_key='b', region_name='us-east-1')\n\
             print(sm.create_secret(Name='{name}', SecretString=sys.stdin.read())['ARN'])\n",
            self.endpoint()
        );
        self.python_with_input(&script, value).remove(0)
    }

    /// Every Glue table of `database`, read back with boto3, one line each:
    /// `name \t columns \t partition keys \t location \t delta version \t
    /// partitions \t manifest files`, where columns are `name type` joined
    /// by `,`, partitions are counted, and manifest files are the files the
    /// first partition's (or the table's) symlink manifest lists that exist.
    pub fn glue_tables(&self, database: &str) -> Vec<String> {
        let script = format!(
            "import boto3\n\
             kw = dict(endpoint_url='{}', aws_access_key_id='a', aws_secret_access_key='b', region_name='us-east-1')\n\
             glue, s3 = boto3.client('glue', **kw), boto3.client('s3', **kw)\n\
             def files(location):\n\
             \x20   bucket, key = location[5:].split('/', 1)\n\
             \x20   body = s3.get_object(Bucket=bucket, Key=key + 'manifest')['Body'].read().decode()\n\
             \x20   urls = [u for u in body.split('\\n') if u]\n\
             \x20   ok = [u for u in urls if s3.head_object(Bucket=u[5:].split('/', 1)[0], Key=u[5:].split('/', 1)[1])]\n\
             \x20   return len(ok)\n\
             for t in sorted(glue.get_tables(DatabaseName='{database}')['TableList'], key=lambda t: t['Name']):\n\
             \x20   sd = t['StorageDescriptor']\n\
             \x20   cols = ','.join(c['Name'] + ' ' + c['Type'] for c in sd['Columns'])\n\
             \x20   keys = ','.join(k['Name'] for k in t.get('PartitionKeys', []))\n\
             \x20   parts = glue.get_partitions(DatabaseName='{database}', TableName=t['Name'])['Partitions']\n\
             \x20   where = parts[0]['StorageDescriptor']['Location'] if parts else sd['Location']\n\
             \x20   print('\\t'.join([t['Name'], cols, keys, sd['Location'], t['Parameters']['dfstore.delta_version'], str(len(parts)), str(files(where))]))\n",
            self.endpoint()
        );
        let out = Command::new(self.python())
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        stdout_lines(out)
    }

    /// `dfstore ARGS… --lake URL`, run in `dir`, with this server's AWS
    /// environment.
    pub fn dfstore(
        &self,
        dir: &super::cli::TestLake,
        lake: &str,
        args: &[&str],
    ) -> assert_cmd::Command {
        let mut cmd = super::cli::dfstore(dir.dir.path());
        cmd.args(args).arg("--lake").arg(lake);
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        cmd
    }

    /// Writes `body` at `bucket/key`.
    pub fn put_object(&self, bucket: &str, key: &str, body: &str) {
        let script = format!(
            "import boto3, sys\n\
             s3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='a', aws_secret_access_key='b', region_name='us-east-1')\n\
             s3.put_object(Bucket='{bucket}', Key='{key}', Body=sys.stdin.read().encode())\n",
            self.endpoint()
        );
        self.python_with_input(&script, body);
    }

    /// Turns IAM enforcement on from the next request: every request must
    /// then be signed by a known identity whose policies allow it.
    pub fn enforce_iam(&self) {
        let script = format!(
            "import urllib.request\n\
             urllib.request.urlopen(urllib.request.Request('{}/moto-api/reset-auth', data=b'0', headers={{'Content-Type': 'text/plain'}}, method='POST')).read()\n",
            self.endpoint()
        );
        self.python_with_input(&script, "");
    }

    /// Runs `script` with boto3 in moto's Python, where `client(name)` makes
    /// a boto3 client of this server; the lines it printed.
    pub fn boto3(&self, script: &str) -> Vec<String> {
        let preamble = format!(
            "import boto3, json, sys, datetime\n\
             def client(name):\n\
             \x20   return boto3.client(name, endpoint_url='{}', aws_access_key_id='a', aws_secret_access_key='b', region_name='us-east-1')\n",
            self.endpoint()
        );
        self.python_with_input(&format!("{preamble}{script}"), "")
    }

    /// Runs a Python `script` of moto's Python with `input` on its standard
    /// input; the lines it printed (it must succeed).
    fn python_with_input(&self, script: &str, input: &str) -> Vec<String> {
        let mut child = Command::new(self.python())
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a boto3 script failed:\n{script}");
        stdout_lines(out)
    }

    /// moto's own Python, which has boto3.
    fn python(&self) -> PathBuf {
        python_beside(&self.server)
    }

    /// An unsigned request (moto accepts them); the status code.
    fn request(&self, method: &str, path: &str) -> Option<u16> {
        http(self.port, method, path).map(|(status, _)| status)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
