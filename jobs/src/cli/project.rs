//! The flags that name a project and its variables.

use clap::Args;
use dfstore_core::S3Settings;

use crate::error::Result;
use crate::project::Project;
use crate::project::vars::parse_assignment;

/// The project whose models a command reads.
#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// The project: a folder, file:///path or s3://bucket/prefix holding dfstore_project.toml and LAYER/NAME.sql models [default: the built-in retail project].
    #[arg(long, value_name = "DIR", env = "DFSTORE_PROJECT")]
    pub project: Option<String>,
    /// Set a project variable (read as $NAME in the SQL), e.g. --var min_units=2; repeat for several [default: the project's [vars]].
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_assignment)]
    pub vars: Vec<(String, String)>,
}

impl ProjectArgs {
    /// Loads the project (its S3 location read with `s3`'s settings) with
    /// the `--var` values.
    pub async fn open(&self, s3: &S3Settings) -> Result<Project> {
        // An empty DFSTORE_PROJECT (a template's unset parameter) is unset.
        let location = self.project.as_deref().filter(|p| !p.is_empty());
        Project::open(location, s3).await?.with_vars(&self.vars)
    }
}
