//! [`TaskChain`]: one task file, possibly several `---`-separated tasks (a pipeline).

use std::path::Path;

use serde::Serialize;

use super::emit::{Out, task_out, write_yaml};
use super::error::{Located, TaskError};
use super::overrides::Overrides;
use super::spec::{Task, parse_task};
use super::walk::{At, Field, check_known, get};
use super::yaml::{Node, Value, load_documents};

/// The fields a pipeline header may hold: SkyPilot's header schema. Only `name`
/// and `execution: serial` are run; the job-group fields are refused by name.
const HEADER_FIELDS: &[&str] = &["name", "execution", "primary_tasks", "termination_delay"];

/// The tasks of one task file, run one after another (a pipeline). A file with
/// one document is a chain of one task. In a multi-document file, a first
/// document holding only header fields (`name`, `execution`) is the pipeline
/// header. SkyPilot's job groups (`execution: parallel`, with `primary_tasks` and
/// `termination_delay`) are refused when the file is read, so no verb can run
/// their tasks one after another by mistake.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskChain {
    /// Pipeline name from the header.
    pub name: Option<String>,
    tasks: Vec<Task>,
}

impl TaskChain {
    /// A chain of the given tasks, serial, without a header.
    pub fn new(tasks: Vec<Task>) -> Self {
        TaskChain { name: None, tasks }
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
            check_known(&fields, HEADER_FIELDS)?;
            if let Some(n) = get(&fields, "name") {
                chain.name = n.python_str()?;
            }
            refuse_job_group(&fields)?;
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
        if self.name.is_some() || self.tasks.len() > 1 {
            // Always a header for several tasks, so a first task holding only a
            // name is not mistaken for one when read back.
            let name = self.name.clone().map_or(Out::Null, Out::Str);
            docs.push(write_yaml(&Out::Map(vec![("name".to_string(), name)])));
        }
        for t in &self.tasks {
            docs.push(write_yaml(&task_out(t, with_secrets)));
        }
        docs.join("---\n")
    }
}

/// A header document holds only header fields.
fn is_header(doc: &Node) -> bool {
    match &doc.value {
        Value::Map(entries) => !entries.is_empty()
            && entries.iter().all(
                |(k, _)| matches!(&k.value, Value::Str(s) if HEADER_FIELDS.contains(&s.as_str())),
            ),
        _ => false,
    }
}

/// Refuses a job group by the field that makes it one. aloft runs a file's tasks
/// as a pipeline only; running a group's tasks in turn would never end a group
/// whose auxiliary tasks serve until told to stop.
fn refuse_job_group(fields: &[Field<'_>]) -> Result<(), TaskError> {
    if let Some(e) = get(fields, "execution").filter(|e| !e.is_null())
        && e.choice(&["serial", "parallel"])? == "parallel"
    {
        return Err(e.err(
            "`execution: parallel` makes a SkyPilot job group (all tasks at once, primary \
             tasks deciding the end), which aloft does not run: launch each task with its \
             own `aloft jobs launch`, or leave `execution` out to run the tasks one after \
             another as a pipeline",
        ));
    }
    for field in ["primary_tasks", "termination_delay"] {
        if let Some(f) = get(fields, field) {
            return Err(f.err(format!(
                "`{field}` belongs to a SkyPilot job group (`execution: parallel`), which \
                 aloft does not run; a pipeline runs every task to its end, one after another"
            )));
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<TaskChain, TaskError> {
        TaskChain::from_yaml_str(src, "group.yaml", &Overrides::default())
    }

    fn located(err: TaskError) -> Located {
        match err {
            TaskError::Invalid(l) => *l,
            other => panic!("expected a located error, got {other}"),
        }
    }

    /// SkyPilot's own job-group example (docs/source/examples/job-groups.rst).
    const JOB_GROUP: &str = "---\nname: train-with-services\nexecution: parallel\n\
        primary_tasks: [trainer]\ntermination_delay: 30s\n---\nname: trainer\n\
        run: python train.py\n---\nname: data-server\nrun: python data_server.py\n";

    #[test]
    fn a_job_group_is_refused_at_its_execution_field() {
        let l = located(parse(JOB_GROUP).expect_err("a job group must not parse"));
        assert_eq!(
            (l.file.as_str(), l.line, l.path.as_str()),
            ("group.yaml", 3, "execution")
        );
        assert!(l.message.contains("job group"), "{}", l.message);
        assert!(l.message.contains("aloft jobs launch"), "{}", l.message);
    }

    #[test]
    fn job_group_fields_without_parallel_are_refused_by_name() {
        for (field, line) in [
            ("primary_tasks: [a]", "primary_tasks"),
            ("termination_delay: 5m", "termination_delay"),
        ] {
            let src =
                format!("name: p\n{field}\n---\nname: a\nrun: echo a\n---\nname: b\nrun: echo b\n");
            let l = located(parse(&src).expect_err(field));
            assert_eq!((l.line, l.path.as_str()), (2, line), "{}", l.message);
        }
    }

    #[test]
    fn a_serial_header_still_makes_a_pipeline() {
        let src =
            "name: p\nexecution: serial\n---\nname: a\nrun: echo a\n---\nname: b\nrun: echo b\n";
        let chain = parse(src).expect("a serial pipeline parses");
        assert_eq!(chain.name.as_deref(), Some("p"));
        assert_eq!(chain.tasks().len(), 2);
        let again = parse(&chain.to_yaml_string()).expect("round trip");
        assert_eq!(again, chain);
    }
}
