//! A task's local paths made absolute, so that it means the same thing when it
//! runs from another folder (a controller process, another machine's home).

use std::path::Path;

use super::{FileMount, Task, TaskChain, Workdir};

/// `path` against `base` when it is a relative local path (not a URL).
fn absolute(path: &str, base: &Path) -> Option<String> {
    (!path.contains("://") && Path::new(path).is_relative() && !path.starts_with('~'))
        .then(|| base.join(path).display().to_string())
}

impl Task {
    /// Makes the local workdir and the local sources of file mounts and storage
    /// objects absolute, resolved against `base` (the task file's folder, as a
    /// launch resolves them).
    pub fn resolve_local_paths(&mut self, base: &Path) {
        if let Some(Workdir::Local(dir)) = &mut self.workdir
            && let Some(abs) = absolute(dir, base)
        {
            *dir = abs;
        }
        for mount in self.file_mounts.values_mut() {
            match mount {
                FileMount::Path(path) => {
                    if let Some(abs) = absolute(path, base) {
                        *path = abs;
                    }
                }
                FileMount::Storage(spec) => {
                    for source in &mut spec.source {
                        if let Some(abs) = absolute(source, base) {
                            *source = abs;
                        }
                    }
                }
            }
        }
    }
}

impl TaskChain {
    /// [`Task::resolve_local_paths`] for every task.
    pub fn resolve_local_paths(&mut self, base: &Path) {
        for task in self.tasks_mut() {
            task.resolve_local_paths(base);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::task::{FileMount, Overrides, Task, Workdir};
    use std::path::Path;

    #[test]
    fn relative_local_paths_become_absolute_and_nothing_else_moves() {
        let yaml = "workdir: src\nfile_mounts:\n  /a: data/x.txt\n  /b: /abs/y\n  /c: s3://bucket/p\n  \
                    /d: {name: bkt, source: up}\nrun: echo\n";
        let mut task = Task::from_yaml_str(yaml, "t.yaml", &Overrides::default())
            .unwrap()
            .remove(0);
        task.resolve_local_paths(Path::new("/home/u/proj"));
        assert_eq!(
            task.workdir,
            Some(Workdir::Local("/home/u/proj/src".into()))
        );
        let path = |k: &str| match &task.file_mounts[k] {
            FileMount::Path(p) => p.clone(),
            FileMount::Storage(s) => s.source.join(","),
        };
        assert_eq!(path("/a"), "/home/u/proj/data/x.txt");
        assert_eq!(path("/b"), "/abs/y");
        assert_eq!(path("/c"), "s3://bucket/p");
        assert_eq!(path("/d"), "/home/u/proj/up");
    }
}
