//! [`TaskChain`]: one task file, possibly several `---`-separated tasks (a pipeline).

use std::path::Path;

use serde::Serialize;

use super::emit::{Out, task_out, write_yaml};
use super::error::{Located, TaskError};
use super::overrides::Overrides;
use super::spec::{Task, parse_task};
use super::walk::{At, check_known, get};
use super::yaml::{Node, Value, load_documents};

/// How the tasks of a multi-document file run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum Execution {
    /// One after another (a pipeline; the default).
    #[default]
    Serial,
    /// All at once (a job group): `execution: parallel` in the header.
    Parallel,
}

/// The tasks of one task file. A file with one document is a chain of one task.
/// In a multi-document file, a first document holding only `name` (and optionally
/// `execution`) is the pipeline header.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskChain {
    /// Pipeline name from the header.
    pub name: Option<String>,
    /// Serial pipeline or parallel job group.
    pub execution: Execution,
    tasks: Vec<Task>,
}

impl TaskChain {
    /// A chain of the given tasks, serial, without a header.
    pub fn new(tasks: Vec<Task>) -> Self {
        TaskChain {
            name: None,
            execution: Execution::Serial,
            tasks,
        }
    }

    /// The tasks, in file order.
    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    /// Mutable access to the tasks.
    pub fn tasks_mut(&mut self) -> &mut [Task] {
        &mut self.tasks
    }

    /// Takes the tasks out.
    pub fn into_tasks(self) -> Vec<Task> {
        self.tasks
    }

    /// Reads and parses a task file.
    pub fn from_yaml_file(
        path: impl AsRef<Path>,
        overrides: &Overrides,
    ) -> Result<Self, TaskError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| TaskError::Io {
            file: origin.clone(),
            message: e.to_string(),
        })?;
        let src = String::from_utf8(bytes).map_err(|e| {
            let (line, col) = {
                let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let valid = std::str::from_utf8(valid).unwrap_or("");
                let line = valid.matches('\n').count() + 1;
                let col = valid.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                (line, col)
            };
            TaskError::Invalid(Box::new(Located {
                file: origin.clone(),
                line,
                col,
                path: "(yaml)".to_string(),
                message: "file is not valid UTF-8".to_string(),
                suggestion: None,
            }))
        })?;
        Self::from_yaml_str(&src, &origin, overrides)
    }

    /// Parses task YAML; `origin` names the source in errors.
    pub fn from_yaml_str(
        src: &str,
        origin: &str,
        overrides: &Overrides,
    ) -> Result<Self, TaskError> {
        overrides.check_names()?;
        let located = |line: usize, col: usize, path: &str, message: String| {
            TaskError::Invalid(Box::new(Located {
                file: origin.to_string(),
                line,
                col,
                path: path.to_string(),
                message,
                suggestion: None,
            }))
        };
        let docs = load_documents(src).map_err(|e| {
            located(
                e.mark.line,
                e.mark.col,
                "(yaml)",
                format!("invalid YAML: {}", e.message),
            )
        })?;
        // `---` at the end (or between) leaves empty documents; they hold no task.
        let docs: Vec<&Node> = docs
            .iter()
            .filter(|d| !matches!(d.value, Value::Null))
            .collect();
        if docs.is_empty() {
            return Err(located(1, 1, "(root)", "empty task file".to_string()));
        }
        let mut chain = TaskChain::new(Vec::new());
        let mut bodies: &[&Node] = &docs;
        if docs.len() > 1 && is_header(docs[0]) {
            let at = At::root(docs[0], origin);
            let fields = at.fields()?;
            check_known(&fields, &["name", "execution"])?;
            if let Some(n) = get(&fields, "name") {
                chain.name = n.python_str()?;
            }
            if let Some(e) = get(&fields, "execution").filter(|e| !e.is_null()) {
                chain.execution = match e.choice(&["serial", "parallel"])? {
                    "parallel" => Execution::Parallel,
                    _ => Execution::Serial,
                };
            }
            bodies = &docs[1..];
        }
        for doc in bodies {
            chain
                .tasks
                .push(parse_task(&At::root(doc, origin), overrides)?);
        }
        if overrides.changes_task() {
            if chain.tasks.len() > 1 {
                return Err(TaskError::override_flag(
                    "overrides",
                    format!(
                        "resource, name, workdir and node overrides apply to a single task; \
                         this file has {} tasks",
                        chain.tasks.len()
                    ),
                ));
            }
            for t in &mut chain.tasks {
                overrides.apply(t)?;
            }
        }
        Ok(chain)
    }

    /// YAML for the chain, with secret values written as `<redacted>`.
    pub fn to_yaml_string(&self) -> String {
        self.yaml(false)
    }

    /// YAML for the chain including secret values, for handing the task to a
    /// trusted runner. Round-trips through [`TaskChain::from_yaml_str`].
    pub fn to_yaml_string_with_secrets(&self) -> String {
        self.yaml(true)
    }

    fn yaml(&self, with_secrets: bool) -> String {
        let mut docs = Vec::new();
        let header = self.name.is_some() || self.execution != Execution::Serial;
        if header || self.tasks.len() > 1 {
            // Always a header for several tasks, so a first task holding only a
            // name is not mistaken for one when read back.
            let name = self.name.clone().map_or(Out::Null, Out::Str);
            let mut h = vec![("name".to_string(), name)];
            if self.execution == Execution::Parallel {
                h.push(("execution".to_string(), Out::Str("parallel".to_string())));
            }
            docs.push(write_yaml(&Out::Map(h)));
        }
        for t in &self.tasks {
            docs.push(write_yaml(&task_out(t, with_secrets)));
        }
        docs.join("---\n")
    }
}

/// A header document holds only `name` and/or `execution`.
fn is_header(doc: &Node) -> bool {
    match &doc.value {
        Value::Map(entries) => {
            !entries.is_empty()
                && entries.iter().all(
                    |(k, _)| matches!(&k.value, Value::Str(s) if s == "name" || s == "execution"),
                )
        }
        _ => false,
    }
}

impl Task {
    /// Parses task YAML into its tasks (one per document; a pipeline header is
    /// dropped). Use [`TaskChain::from_yaml_str`] to keep the header.
    pub fn from_yaml_str(
        src: &str,
        origin: &str,
        overrides: &Overrides,
    ) -> Result<Vec<Task>, TaskError> {
        TaskChain::from_yaml_str(src, origin, overrides).map(TaskChain::into_tasks)
    }

    /// Reads and parses a task file into its tasks.
    pub fn from_yaml_file(
        path: impl AsRef<Path>,
        overrides: &Overrides,
    ) -> Result<Vec<Task>, TaskError> {
        TaskChain::from_yaml_file(path, overrides).map(TaskChain::into_tasks)
    }

    /// YAML for this task, with secret values written as `<redacted>`.
    pub fn to_yaml_string(&self) -> String {
        write_yaml(&task_out(self, false))
    }

    /// YAML for this task including secret values; round-trips.
    pub fn to_yaml_string_with_secrets(&self) -> String {
        write_yaml(&task_out(self, true))
    }
}
