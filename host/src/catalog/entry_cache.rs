//! Answers to `find_entry`, remembered until the next write to entries.
//!
//! Only sound where every write goes through this process: the SQLite
//! catalog, whose file one process holds exclusively. PostgreSQL catalogs
//! are shared by several processes, so they always ask the database.
//!
//! A write bumps the generation after it commits; an answer is kept with the
//! generation read *before* its query and served only while that is still
//! the current one. A read racing a write therefore never leaves a stale
//! answer behind: at worst it fills the cache with one that is never used.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as Atomic};

use quick_cache::Equivalent;
use quick_cache::sync::Cache;

use super::{Entry, Selection};
use crate::address::{AssetPath, Ordering};

/// Bytes of questions and answers kept. Bounded by size, not count: a
/// question carries up to 16 label filters of the client's choosing.
const CAPACITY_BYTES: u64 = 8 * 1024 * 1024;
/// Roughly how many answers fit, for the cache's sizing: a few hundred bytes each.
const ESTIMATED_ANSWERS: usize = 16 * 1024;

type Answer = (u64, Option<Arc<Entry>>);

pub struct EntryCache {
    generation: AtomicU64,
    answers: Cache<Question, Answer, ByteSize>,
}

/// Weighs a remembered answer by the bytes of its question and of its entry
/// (counted whole for each question it answers, though they may share it).
#[derive(Clone)]
struct ByteSize;

impl quick_cache::Weighter<Question, Answer> for ByteSize {
    fn weight(&self, question: &Question, (_, entry): &Answer) -> u64 {
        const FIXED: usize = 256;
        let labels: usize = question.labels.iter().map(|(k, v)| k.len() + v.len() + 48).sum();
        let entry = entry.as_ref().map_or(0, |entry| {
            let metadata = &entry.metadata;
            FIXED
                + entry.path.as_str().len()
                + metadata.alt.as_ref().map_or(0, String::len)
                + metadata
                    .labels
                    .iter()
                    .map(|(k, v)| k.len() + v.len() + 48)
                    .sum::<usize>()
                + metadata.tags.iter().map(|t| t.len() + 24).sum::<usize>()
        });
        (FIXED + question.path.len() + labels + entry) as u64
    }
}

/// A read's place in the order of writes, taken before its query.
#[derive(Clone, Copy)]
pub struct Generation(u64);

impl EntryCache {
    pub fn new() -> Self {
        Self {
            generation: AtomicU64::new(0),
            answers: Cache::with_weighter(ESTIMATED_ANSWERS, CAPACITY_BYTES, ByteSize),
        }
    }

    /// The remembered answer, or the generation to remember a fresh one under.
    pub fn get(&self, path: &AssetPath, selection: &Selection) -> Result<Option<Arc<Entry>>, Generation> {
        let generation = self.generation.load(Atomic::Acquire);
        match self.answers.get(&QuestionRef::new(path, selection)) {
            Some((kept, answer)) if kept == generation => Ok(answer),
            _ => Err(Generation(generation)),
        }
    }

    pub fn keep(&self, path: &AssetPath, selection: &Selection, generation: Generation, answer: &Option<Arc<Entry>>) {
        let question = QuestionRef::new(path, selection).to_owned();
        self.answers.insert(question, (generation.0, answer.clone()));
    }

    /// Called after every committed write to entries.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Atomic::AcqRel);
    }
}

/// What was asked. Looked up through [`QuestionRef`], its borrowed twin,
/// which derives `Hash` over the same fields in the same order (`&str` and
/// slices hash as `String` and `Vec` do), so a hit builds no key.
#[derive(PartialEq, Eq, Hash)]
struct Question {
    path: String,
    ordering: Ordering,
    labels: Vec<(String, String)>,
}

#[derive(Hash)]
struct QuestionRef<'a> {
    path: &'a str,
    ordering: Ordering,
    labels: &'a [(String, String)],
}

impl<'a> QuestionRef<'a> {
    fn new(path: &'a AssetPath, selection: &'a Selection) -> Self {
        Self {
            path: path.as_str(),
            ordering: selection.ordering,
            labels: &selection.labels,
        }
    }

    fn to_owned(&self) -> Question {
        Question {
            path: self.path.to_owned(),
            ordering: self.ordering,
            labels: self.labels.to_vec(),
        }
    }
}

impl Equivalent<Question> for QuestionRef<'_> {
    fn equivalent(&self, question: &Question) -> bool {
        self.ordering == question.ordering && self.path == question.path && self.labels == question.labels
    }
}

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasher, RandomState};

    use super::*;

    #[test]
    fn a_borrowed_question_hashes_as_its_owned_twin() {
        let hasher = RandomState::new();
        let labels = vec![("k".to_owned(), "v".to_owned())];
        let owned = Question {
            path: "a/b".into(),
            ordering: Ordering::Entry(2),
            labels: labels.clone(),
        };
        let borrowed = QuestionRef {
            path: "a/b",
            ordering: Ordering::Entry(2),
            labels: &labels,
        };
        assert_eq!(hasher.hash_one(&owned), hasher.hash_one(&borrowed));
        assert!(borrowed.equivalent(&owned));
    }

    #[test]
    fn a_write_makes_earlier_answers_and_racing_reads_unusable() {
        let cache = EntryCache::new();
        let path = AssetPath::parse("a/b").unwrap();
        let newest = Selection {
            ordering: Ordering::New,
            labels: Vec::new(),
        };
        let Err(before) = cache.get(&path, &newest) else {
            panic!("nothing is remembered yet")
        };
        cache.keep(&path, &newest, before, &None);
        assert!(matches!(cache.get(&path, &newest), Ok(None)));

        // A read that began before a write and finished after it.
        let Err(racing) = cache.get(
            &path,
            &Selection {
                ordering: Ordering::Modified,
                ..newest.clone()
            },
        ) else {
            panic!("not remembered")
        };
        cache.invalidate();
        cache.keep(
            &path,
            &Selection {
                ordering: Ordering::Modified,
                ..newest.clone()
            },
            racing,
            &None,
        );
        assert!(
            cache
                .get(
                    &path,
                    &Selection {
                        ordering: Ordering::Modified,
                        ..newest.clone()
                    }
                )
                .is_err()
        );
        assert!(cache.get(&path, &newest).is_err());

        let labelled = Selection {
            ordering: Ordering::New,
            labels: vec![("k".into(), "v".into())],
        };
        let Err(now) = cache.get(&path, &labelled) else {
            panic!()
        };
        cache.keep(&path, &labelled, now, &None);
        assert!(cache.get(&path, &labelled).is_ok());
        assert!(cache.get(&path, &newest).is_err(), "labels are part of the question");
    }

    #[test]
    fn long_questions_are_bounded_by_bytes() {
        let cache = EntryCache::new();
        let path = AssetPath::parse("a/b").unwrap();
        let long = "x".repeat(4096);
        for i in 0..20_000 {
            let selection = Selection {
                ordering: Ordering::New,
                labels: vec![(format!("k{i}"), long.clone())],
            };
            let Err(generation) = cache.get(&path, &selection) else {
                panic!("asked once")
            };
            cache.keep(&path, &selection, generation, &None);
        }
        assert!(cache.answers.weight() <= CAPACITY_BYTES, "{}", cache.answers.weight());
        assert!(cache.answers.len() < 20_000);
    }
}
