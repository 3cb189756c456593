//! Python bindings: type conversion, GIL release and error mapping only. All logic lives in
//! `tokenforge-core`; the Python package wraps `CoreTokenizer` in the public `Tokenizer`.

use std::fs::File;
use std::io::BufWriter;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::OnceLock;

use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use tokenforge_core::count::{read_counts, write_counts, CorpusStats};
use tokenforge_core::healing::{self, SortedTokens};
use tokenforge_core::model::hybrid::{FallbackBpe, Hybrid, Root, Trigger, Unit as HybridUnit};
use tokenforge_core::offsets::{Encoding, TrimOffsets};
use tokenforge_core::presets::Preset;
use tokenforge_core::{
    config, Bpe, BpeTrainer, Counter, Error, LibOptions, MatchFlags, Normalizer, PieceCounts, PreTokenizer,
    SpecialRule, SpecialSet, SpecialTokens, SplitBehavior, Step, Tokenizer, TrainOptions, UnigramOptions,
};

/// Interpreter exit with threads inside the engine.
///
/// A daemon thread that asks for the GIL back after the interpreter started finalizing is ended
/// by CPython with `pthread_exit`, whose forced unwinding reaches PyO3's panic guard and aborts
/// the process ("FATAL: exception not rethrown"; 15 of 15 runs with a daemon thread in
/// `encode_ordinary`). So an `atexit` hook (atexit runs before finalization starts) marks the
/// exit and waits, with the GIL released, for the threads already on their way back to get the
/// GIL; a thread that finishes engine work after that never asks for the GIL again: it parks
/// until the process ends, as daemon threads do in Python 3.14.
mod exit {
    use super::*;

    static EXITING: AtomicBool = AtomicBool::new(false);
    /// Threads between the end of their engine work and getting the GIL back.
    static RETURNING: AtomicUsize = AtomicUsize::new(0);

    thread_local! {
        /// The thread running the exit hooks: it must get the GIL back (its later hooks run).
        static FINALIZER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Called at the end of engine work, without the GIL: returns when asking for it is safe.
    pub(super) fn before_reacquire() {
        RETURNING.fetch_add(1, Ordering::SeqCst);
        if EXITING.load(Ordering::SeqCst) && !FINALIZER.get() {
            RETURNING.fetch_sub(1, Ordering::SeqCst);
            loop {
                std::thread::park();
            }
        }
    }

    /// Called once the GIL is held again.
    pub(super) fn after_reacquire() {
        RETURNING.fetch_sub(1, Ordering::SeqCst);
    }

    /// The `atexit` hook.
    #[pyfunction]
    pub(super) fn _before_exit(py: Python<'_>) {
        FINALIZER.set(true);
        EXITING.store(true, Ordering::SeqCst);
        py.detach(|| {
            // Bounded: exit must never hang on a thread kept from the GIL by something else.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while RETURNING.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        });
    }

    /// A forked child has none of the parent's other threads, so none of them is returning.
    #[cfg(unix)]
    pub(super) fn reset_in_forked_children() {
        extern "C" fn child() {
            RETURNING.store(0, Ordering::SeqCst);
        }
        tokenforge_core::pool::on_fork_child(child);
    }

    #[cfg(not(unix))]
    pub(super) fn reset_in_forked_children() {}
}

/// Runs `f` without the GIL (every engine call that can take time), safely at interpreter exit.
fn detach<T: Send, F: FnOnce() -> T + Send>(py: Python<'_>, f: F) -> T {
    let out = py.detach(|| {
        let out = f();
        exit::before_reacquire();
        out
    });
    exit::after_reacquire();
    out
}

/// Raises the matching class of `tokenforge.errors` (one error family, defined in Python).
fn to_py(py: Python<'_>, err: Error) -> PyErr {
    let (class, message) = match &err {
        Error::InvalidVocabulary(_) => ("InvalidVocabularyError", err.to_string()),
        Error::InvalidPattern(_) => ("InvalidVocabularyError", err.to_string()),
        Error::PatternFailure(_) => ("TokenforgeError", err.to_string()),
        Error::DisallowedSpecial { token, position } => (
            "SpecialTokenError",
            format!(
                "Encountered text corresponding to disallowed special token {token:?} at byte {position}.\n\
                 To encode it as the special token, pass allowed_special={{{token:?}}} (or allowed_special=\"all\").\n\
                 To encode it as ordinary text, pass disallowed_special=() (or a set without {token:?})."
            ),
        ),
        Error::InvalidTokenId(_) => ("InvalidTokenIdError", err.to_string()),
        Error::InvalidArgument(_) => ("InvalidArgumentError", err.to_string()),
        Error::Corpus(_) => ("CorpusError", err.to_string()),
        Error::Io(_) => ("FileAccessError", err.to_string()),
        Error::Unsupported(_) => ("UnsupportedTokenizerError", err.to_string()),
    };
    let made = py
        .import("tokenforge.errors")
        .and_then(|m| m.getattr(class))
        .and_then(|cls| cls.call1((message.clone(),)));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(import_failure) => import_failure,
    }
}

/// `"all"` or a sequence of special-token ids.
fn special_set(core: &Tokenizer, spec: &Bound<'_, PyAny>) -> PyResult<SpecialSet> {
    if let Ok(s) = spec.cast::<PyString>() {
        return match s.to_str()? {
            "all" => Ok(SpecialSet::All),
            other => Err(PyTypeError::new_err(format!(
                "expected \"all\" or a list of ids, got {other:?}"
            ))),
        };
    }
    let mut ids: Vec<u32> = spec.extract()?;
    if ids.is_empty() {
        return Ok(SpecialSet::Nothing);
    }
    ids.sort_unstable(); // 256 Llama-3 specials: a binary search each, not a scan of the list each
    let table = core.specials().tokens();
    let mask = table
        .iter()
        .map(|(_, id)| ids.binary_search(id).is_ok())
        .collect();
    Ok(SpecialSet::Only(mask))
}

/// Little-endian bytes of integers, for `numpy.frombuffer`.
trait LeBytes: Copy {
    const SIZE: usize;
    fn write(self, out: &mut [u8]);
}

impl LeBytes for u32 {
    const SIZE: usize = 4;
    fn write(self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_le_bytes());
    }
}

impl LeBytes for u64 {
    const SIZE: usize = 8;
    fn write(self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_le_bytes());
    }
}

fn le_bytes<'py, T: LeBytes>(py: Python<'py>, values: &[T]) -> PyResult<Bound<'py, PyBytes>> {
    PyBytes::new_with(py, values.len() * T::SIZE, |buf| {
        for (chunk, v) in buf.chunks_exact_mut(T::SIZE).zip(values) {
            v.write(chunk);
        }
        Ok(())
    })
}

/// A new bytes object of `size` bytes whose contents the caller must write before returning it.
fn uninitialized_bytes(py: Python<'_>, size: usize) -> PyResult<Bound<'_, PyBytes>> {
    let size = ffi::Py_ssize_t::try_from(size)
        .map_err(|_| PyOverflowError::new_err(format!("{size} bytes do not fit in one bytes object")))?;
    // SAFETY: a null source asks CPython for `size` uninitialized bytes; the result is a new
    // reference (or null with an exception set, which `from_owned_ptr_or_err` raises).
    let object =
        unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyBytes_FromStringAndSize(std::ptr::null(), size))? };
    // SAFETY: PyBytes_FromStringAndSize returns a bytes object.
    Ok(unsafe { object.cast_into_unchecked() })
}

/// The UTF-8 of each str, borrowed (no copy; the caller's list keeps them alive). A str with lone
/// surrogates raises UnicodeEncodeError, which the Python layer answers by replacing them.
fn str_views<'a>(texts: &'a [Bound<'_, PyString>]) -> PyResult<Vec<&'a str>> {
    texts.iter().map(|t| t.to_str()).collect()
}

type StepSpec = (String, Option<String>, Option<String>, bool, bool);

fn build_step(spec: StepSpec) -> Result<Step, Error> {
    let (kind, pattern, behavior, a, b) = spec;
    match kind.as_str() {
        "regex" => {
            let pattern =
                pattern.ok_or_else(|| Error::InvalidArgument("regex step needs a pattern".into()))?;
            let behavior = SplitBehavior::parse(behavior.as_deref().unwrap_or("isolated"))?;
            Step::regex(&pattern, behavior, a)
        }
        "byte_level" => Step::byte_level(a, b),
        "digits" => Ok(Step::Digits { individual: a }),
        other => Err(Error::InvalidArgument(format!(
            "unknown pre-tokenizer step {other:?}"
        ))),
    }
}

type EncodingParts<'py> = (Vec<u32>, Bound<'py, PyBytes>, Bound<'py, PyBytes>);

fn encoding_parts(py: Python<'_>, encoding: Encoding) -> PyResult<EncodingParts<'_>> {
    let flat = |pairs: &[(usize, usize)]| -> Vec<u64> {
        pairs.iter().flat_map(|&(s, e)| [s as u64, e as u64]).collect()
    };
    let offsets = le_bytes(py, &flat(&encoding.offsets))?;
    let byte_offsets = le_bytes(py, &flat(&encoding.byte_offsets))?;
    Ok((encoding.ids, offsets, byte_offsets))
}

/// The frozen engine behind `tokenforge.Tokenizer`.
#[pyclass(frozen, module = "tokenforge._core")]
struct CoreTokenizer {
    inner: Tokenizer,
    /// Built on the first call that needs it (token healing, `token_byte_values`); `OnceLock`
    /// makes concurrent first calls safe without the GIL.
    sorted: OnceLock<SortedTokens>,
    /// Python ints of the ids, made on first use (see [`IdInts`]).
    ints: IdInts,
}

/// One Python int per token id, made the first time the id is returned and shared by every list
/// after that: a returned id costs a reference count and a `PyList_SetItem` instead of a new
/// int object. Callgrind of the `encode` calls of `bench/families.py` documents (0.3 MB plus the
/// warm-up, 232k ids, botchan Unigram model): pyo3's `Vec<u32>` to list conversion was 14.5M
/// instructions (63 per id); with the shared ints
/// it is 9.8M (42 per id) in the stable ABI (`abi3`), where `PyList_SetItem` and `_Py_IncRef` are
/// calls, and 5.1M (22 per id) with the list store and reference count inline (the default build).
/// Ids at or past [`IdInts::LIMIT`] (far beyond any real vocabulary) are made each time.
struct IdInts {
    slots: Box<[AtomicPtr<ffi::PyObject>]>,
}

impl IdInts {
    /// The most ids with a slot (8 bytes each, plus an int object for each id returned).
    const LIMIT: usize = 1 << 22;

    fn new(id_space: usize) -> Self {
        let slots = (0..id_space.min(Self::LIMIT))
            .map(|_| AtomicPtr::new(std::ptr::null_mut()))
            .collect();
        IdInts { slots }
    }

    /// A new reference to the int `id`.
    #[inline]
    fn get(&self, py: Python<'_>, id: u32) -> PyResult<*mut ffi::PyObject> {
        let Some(slot) = self.slots.get(id as usize) else {
            return new_int(py, id);
        };
        let mut obj = slot.load(Ordering::Acquire);
        if obj.is_null() {
            let made = new_int(py, id)?;
            // Without a GIL (free-threaded builds) another thread may have stored one first.
            obj = match slot.compare_exchange(std::ptr::null_mut(), made, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => made,
                Err(theirs) => {
                    // SAFETY: `made` is our own new reference.
                    unsafe { ffi::Py_DecRef(made) };
                    theirs
                }
            };
        }
        // SAFETY: `obj` is a live int owned by the slot; the caller gets a new reference.
        unsafe { ffi::Py_INCREF(obj) };
        Ok(obj)
    }

    /// `ids` as a Python list.
    fn list<'py>(&self, py: Python<'py>, ids: &[u32]) -> PyResult<Bound<'py, PyList>> {
        // SAFETY: a new list of `ids.len()` empty slots, each filled once with a new reference
        // (`PyList_SetItem` steals it); the list is owned by the returned `Bound` before any
        // early return, so a failure frees it (its unfilled slots are NULL, which lists allow).
        unsafe {
            let list = ffi::PyList_New(ids.len() as ffi::Py_ssize_t);
            let list = Bound::from_owned_ptr_or_err(py, list)?;
            for (i, &id) in ids.iter().enumerate() {
                let int = self.get(py, id)?;
                #[cfg(feature = "abi3")]
                ffi::PyList_SetItem(list.as_ptr(), i as ffi::Py_ssize_t, int);
                #[cfg(not(feature = "abi3"))]
                ffi::PyList_SET_ITEM(list.as_ptr(), i as ffi::Py_ssize_t, int);
            }
            Ok(list.cast_into_unchecked())
        }
    }
}

fn new_int(py: Python<'_>, id: u32) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: plain object construction; NULL means a Python error is set.
    let obj = unsafe { ffi::PyLong_FromUnsignedLong(id.into()) };
    if obj.is_null() {
        Err(PyErr::fetch(py))
    } else {
        Ok(obj)
    }
}

impl Drop for IdInts {
    fn drop(&mut self) {
        if self.slots.iter().all(|s| s.load(Ordering::Relaxed).is_null()) {
            return;
        }
        Python::attach(|_| {
            for slot in self.slots.iter() {
                let obj = slot.swap(std::ptr::null_mut(), Ordering::AcqRel);
                if !obj.is_null() {
                    // SAFETY: the slot's own reference, released with the GIL held.
                    unsafe { ffi::Py_DecRef(obj) };
                }
            }
        });
    }
}

impl CoreTokenizer {
    fn policy(
        &self,
        allowed: &Bound<'_, PyAny>,
        disallowed: &Bound<'_, PyAny>,
    ) -> PyResult<(SpecialSet, SpecialSet)> {
        Ok((
            special_set(&self.inner, allowed)?,
            special_set(&self.inner, disallowed)?,
        ))
    }

    fn encode_ids(
        &self,
        py: Python<'_>,
        text: &str,
        allowed: &Bound<'_, PyAny>,
        disallowed: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<u32>> {
        let (a, d) = self.policy(allowed, disallowed)?;
        detach(py, || self.inner.encode(text, &a, &d)).map_err(|e| to_py(py, e))
    }
}

#[pymethods]
impl CoreTokenizer {
    /// `merges=None` means tiktoken semantics (priority = rank of the merged token).
    /// Steps are `(kind, pattern, behavior, flag_a, flag_b)`: `("regex", pattern, behavior, invert, _)`,
    /// `("byte_level", None, None, add_prefix_space, use_regex)`, `("digits", None, None, individual, _)`.
    ///
    /// `pipeline` (a JSON object with HF `tokenizer.json` nodes `normalizer`, `pre_tokenizer`,
    /// `decoder` and optionally `model`, patterns already in the engine's dialect) replaces
    /// `steps` and `normalizers`; with a `model` node it also replaces the byte-level model.
    /// `special_flags` are HF's `(lstrip, rstrip, single_word, normalized)` per special (default:
    /// all false).
    #[new]
    #[pyo3(signature = (vocab, merges, steps, normalizers, specials, ignore_merges=true, unk_id=None, pipeline=None, special_flags=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        vocab: Vec<(Vec<u8>, u32)>,
        merges: Option<Vec<(u32, u32)>>,
        steps: Vec<StepSpec>,
        normalizers: Vec<String>,
        specials: Vec<(String, u32)>,
        ignore_merges: bool,
        unk_id: Option<u32>,
        pipeline: Option<String>,
        special_flags: Option<Vec<(bool, bool, bool, bool)>>,
    ) -> PyResult<Self> {
        let tiktoken = merges.is_none();
        let built = detach(py, || -> Result<Tokenizer, Error> {
            let flags: Vec<MatchFlags> = match special_flags {
                None => vec![MatchFlags::default(); specials.len()],
                Some(f) => f
                    .into_iter()
                    .map(|(lstrip, rstrip, single_word, normalized)| MatchFlags {
                        lstrip,
                        rstrip,
                        single_word,
                        normalized,
                    })
                    .collect(),
            };
            let specials_for =
                |specials: Vec<(String, u32)>, flags: Vec<MatchFlags>, normalizers: &[Normalizer]| {
                    SpecialTokens::with_flags(specials, flags, &|s| {
                        Ok(tokenforge_core::normalize::normalize(normalizers, s)?.into_owned())
                    })
                };
            if let Some(pipeline) = pipeline {
                let doc: serde_json::Value = serde_json::from_str(&pipeline)
                    .map_err(|e| Error::InvalidArgument(format!("pipeline is not JSON: {e}")))?;
                let null = serde_json::Value::Null;
                let node = |key: &str| doc.get(key).unwrap_or(&null);
                let model = match node("model") {
                    serde_json::Value::Null => tokenforge_core::model::Model::ByteLevel(match merges {
                        None => Bpe::from_ranks(vocab)?,
                        Some(m) => Bpe::from_merges(vocab, &m, ignore_merges, unk_id)?,
                    }),
                    m => config::model(m, node("sentencepiece"))?,
                };
                // A SentencePiece model matches its user-defined pieces itself (in normalized
                // text, as SentencePiece does), so they are not split out as added tokens.
                let user_defined = config::sentencepiece_user_defined(node("sentencepiece"))?;
                let normalizers =
                    config::pipeline_normalizers(node("normalizer"), node("sentencepiece"), &model)?;
                let paired = specials.into_iter().zip(flags);
                let (specials, flags): (Vec<_>, Vec<_>) =
                    paired.filter(|((_, id), _)| !user_defined.contains(id)).unzip();
                let specials = specials_for(specials, flags, &normalizers)?;
                let decoder = config::pipeline_decoder(node("decoder"), node("sentencepiece"), &model)?;
                return Ok(Tokenizer::with_model(
                    model,
                    PreTokenizer::new(config::pre_tokenizer(node("pre_tokenizer"))?),
                    normalizers,
                    specials,
                    decoder,
                ));
            }
            let bpe = match merges {
                None => Bpe::from_ranks(vocab)?,
                Some(m) => Bpe::from_merges(vocab, &m, ignore_merges, unk_id)?,
            };
            let steps = steps.into_iter().map(build_step).collect::<Result<Vec<_>, _>>()?;
            let normalizers = normalizers
                .iter()
                .map(|n| {
                    Normalizer::parse(n)
                        .ok_or_else(|| Error::InvalidArgument(format!("unknown normalizer {n:?}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            // tiktoken vocabularies (ranks) resolve overlapping specials as tiktoken does, HF files
            // as HF does.
            let specials = if tiktoken {
                SpecialTokens::with_rule(specials, SpecialRule::Tiktoken)?
            } else {
                specials_for(specials, flags, &normalizers)?
            };
            Ok(Tokenizer::new(
                bpe,
                PreTokenizer::new(steps),
                normalizers,
                specials,
            ))
        });
        built
            .map(|inner| CoreTokenizer {
                ints: IdInts::new(inner.n_vocab()),
                inner,
                sorted: OnceLock::new(),
            })
            .map_err(|e| to_py(py, e))
    }

    fn encode<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        allowed: &Bound<'_, PyAny>,
        disallowed: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let ids = self.encode_ids(py, text, allowed, disallowed)?;
        self.ints.list(py, &ids)
    }

    /// `text` through the normalizers by the encode path, or with `aligned` by the offsets path.
    fn normalize(&self, py: Python<'_>, text: &str, aligned: bool) -> PyResult<String> {
        py.detach(|| self.inner.normalize(text, aligned))
            .map_err(|e| to_py(py, e))
    }

    /// `(ids, char offsets, byte offsets)`, the offsets as little-endian u64 `start, end` pairs
    /// (for numpy). `trim`: the `ByteLevel` post-processor's `trim_offsets` is on, with its
    /// `add_prefix_space`.
    fn encode_with_offsets<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        allowed: &Bound<'_, PyAny>,
        disallowed: &Bound<'_, PyAny>,
        trim: Option<bool>,
    ) -> PyResult<EncodingParts<'py>> {
        let (a, d) = self.policy(allowed, disallowed)?;
        let trim = trim.map(|add_prefix_space| TrimOffsets { add_prefix_space });
        let encoding = py
            .detach(|| self.inner.encode_with_offsets(text, &a, &d, trim))
            .map_err(|e| to_py(py, e))?;
        encoding_parts(py, encoding)
    }

    /// [`CoreTokenizer::encode_with_offsets`] of many texts, on `num_threads` threads.
    fn encode_batch_with_offsets<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<Bound<'py, PyString>>,
        allowed: &Bound<'_, PyAny>,
        disallowed: &Bound<'_, PyAny>,
        trim: Option<bool>,
        num_threads: usize,
    ) -> PyResult<Vec<EncodingParts<'py>>> {
        let (a, d) = self.policy(allowed, disallowed)?;
        let trim = trim.map(|add_prefix_space| TrimOffsets { add_prefix_space });
        let views = str_views(&texts)?;
        let encodings = py
            .detach(|| {
                self.inner
                    .encode_batch_with_offsets(&views, &a, &d, trim, num_threads)
            })
            .map_err(|e| to_py(py, e))?;
        encodings.into_iter().map(|e| encoding_parts(py, e)).collect()
    }

    /// tiktoken's `decode_with_offsets` before the UTF-8 check: the bytes and each token's
    /// first char.
    fn decode_with_offsets<'py>(
        &self,
        py: Python<'py>,
        ids: Vec<u32>,
    ) -> PyResult<(Bound<'py, PyBytes>, Vec<usize>)> {
        let (bytes, starts) = py
            .detach(|| self.inner.decode_with_offsets(&ids))
            .map_err(|e| to_py(py, e))?;
        Ok((PyBytes::new(py, &bytes), starts))
    }

    /// Ids as little-endian u32 bytes (for zero-parse numpy construction).
    fn encode_u32_bytes<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        allowed: &Bound<'_, PyAny>,
        disallowed: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let ids = self.encode_ids(py, text, allowed, disallowed)?;
        le_bytes(py, &ids)
    }

    fn count(
        &self,
        py: Python<'_>,
        text: &str,
        allowed: &Bound<'_, PyAny>,
        disallowed: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        let (a, d) = self.policy(allowed, disallowed)?;
        detach(py, || self.inner.count(text, &a, &d)).map_err(|e| to_py(py, e))
    }

    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<Bound<'_, PyString>>,
        allowed: &Bound<'_, PyAny>,
        disallowed: &Bound<'_, PyAny>,
        num_threads: usize,
    ) -> PyResult<Vec<Bound<'py, PyList>>> {
        let (a, d) = self.policy(allowed, disallowed)?;
        let views = str_views(&texts)?;
        let batch =
            detach(py, || self.inner.encode_batch(&views, &a, &d, num_threads)).map_err(|e| to_py(py, e))?;
        batch.iter().map(|ids| self.ints.list(py, ids)).collect()
    }

    fn count_batch(
        &self,
        py: Python<'_>,
        texts: Vec<Bound<'_, PyString>>,
        allowed: &Bound<'_, PyAny>,
        disallowed: &Bound<'_, PyAny>,
        num_threads: usize,
    ) -> PyResult<Vec<usize>> {
        let (a, d) = self.policy(allowed, disallowed)?;
        let views = str_views(&texts)?;
        detach(py, || self.inner.count_batch(&views, &a, &d, num_threads)).map_err(|e| to_py(py, e))
    }

    fn truncate(
        &self,
        py: Python<'_>,
        text: &str,
        max_tokens: usize,
        allowed: &Bound<'_, PyAny>,
        disallowed: &Bound<'_, PyAny>,
    ) -> PyResult<String> {
        let (a, d) = self.policy(allowed, disallowed)?;
        detach(py, || {
            self.inner
                .truncate(text, max_tokens, &a, &d)
                .map(|p| p.into_owned())
        })
        .map_err(|e| to_py(py, e))
    }

    /// Flat ids (little-endian u32 bytes) and `len(texts) + 1` offsets (little-endian u64 bytes).
    #[pyo3(signature = (texts, allowed, disallowed, num_threads, separator=None))]
    fn encode_batch_flat<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<Bound<'py, PyString>>,
        allowed: &Bound<'_, PyAny>,
        disallowed: &Bound<'_, PyAny>,
        num_threads: usize,
        separator: Option<u32>,
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let (a, d) = self.policy(allowed, disallowed)?;
        let views = str_views(&texts)?;
        let batch = py
            .detach(|| {
                self.inner
                    .encode_batch_flat(&views, &a, &d, num_threads, separator)
            })
            .map_err(|e| to_py(py, e))?;
        // The ids go straight from the workers' buffers into the bytes object numpy will view,
        // copied in parallel without the GIL: no joined vector, no zero-fill.
        let size = 4 * batch.len();
        let ids = uninitialized_bytes(py, size)?;
        // SAFETY: `ids` is a new bytes object of `size` bytes that no other code can see yet, so
        // this is the only reference to its buffer until it is returned.
        let buffer =
            unsafe { std::slice::from_raw_parts_mut(ffi::PyBytes_AsString(ids.as_ptr()).cast::<u8>(), size) };
        detach(py, || batch.write_le(buffer)).map_err(|e| to_py(py, e))?;
        Ok((ids, le_bytes(py, batch.offsets())?))
    }

    fn decode_bytes<'py>(&self, py: Python<'py>, ids: Vec<u32>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py
            .detach(|| self.inner.decode_bytes(&ids))
            .map_err(|e| to_py(py, e))?;
        Ok(PyBytes::new(py, &bytes))
    }

    fn token_bytes<'py>(&self, py: Python<'py>, id: u32) -> Option<Bound<'py, PyBytes>> {
        self.inner.token_bytes(id).map(|b| PyBytes::new(py, b))
    }

    /// Id of a model token given its bytes (the UTF-8 of its string for string vocabularies;
    /// special tokens are looked up in Python).
    fn token_id(&self, token: &[u8]) -> Option<u32> {
        match self.inner.model().vocab() {
            None => self.inner.bpe()?.token_id(token),
            Some(vocab) => vocab.id(std::str::from_utf8(token).ok()?),
        }
    }

    /// HF's `decode`: token strings through the decoder chain; ids in `skip` are left out.
    fn decode_text(&self, py: Python<'_>, ids: Vec<u32>, skip: Vec<u32>) -> PyResult<String> {
        detach(py, || self.inner.decode_text(&ids, &|id| skip.contains(&id))).map_err(|e| to_py(py, e))
    }

    /// HF's model type name (`BPE`, `Unigram`, `WordPiece`, `WordLevel`).
    #[getter]
    fn model_kind(&self) -> &'static str {
        self.inner.model().kind()
    }

    /// Bytes the piece memo holds now (all caches of this tokenizer; capped by `TOKENFORGE_MEMO_MB`).
    #[getter]
    fn memo_bytes(&self) -> usize {
        self.inner.memo_bytes()
    }

    #[getter]
    fn n_vocab(&self) -> usize {
        self.inner.n_vocab()
    }

    /// Number of model (non-special) tokens.
    #[getter]
    fn model_size(&self) -> usize {
        match self.inner.model().vocab() {
            None => self.inner.bpe().map_or(0, Bpe::len),
            Some(vocab) => vocab.len(),
        }
    }

    /// `(bytes, id)` of every model (non-special) token, by id.
    fn model_vocab<'py>(&self, py: Python<'py>) -> Vec<(Bound<'py, PyBytes>, u32)> {
        match (self.inner.bpe(), self.inner.model().vocab()) {
            (Some(bpe), _) => bpe.vocab().map(|(b, id)| (PyBytes::new(py, b), id)).collect(),
            (None, Some(vocab)) => vocab
                .entries()
                .map(|(t, id)| (PyBytes::new(py, t.as_bytes()), id))
                .collect(),
            (None, None) => Vec::new(),
        }
    }

    /// Canonical bytes of the byte-level model tables (see `Bpe::canonical_bytes`), for
    /// fingerprints; empty for other models (their spec describes them whole).
    fn model_canonical_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let bytes = detach(py, || {
            self.inner.bpe().map(Bpe::canonical_bytes).unwrap_or_default()
        });
        PyBytes::new(py, &bytes)
    }

    /// `(left, right, priority, merged)` for every merge of a byte-level model, by priority.
    fn merge_entries(&self) -> Vec<(u32, u32, u32, u32)> {
        self.inner.bpe().map(Bpe::merge_entries).unwrap_or_default()
    }

    /// `(stable ids, completions)` of token healing (see `healing::encode_with_unstable`).
    fn encode_with_unstable(
        &self,
        py: Python<'_>,
        text: &str,
        allowed: &Bound<'_, PyAny>,
        disallowed: &Bound<'_, PyAny>,
        ordinary: &Bound<'_, PyAny>,
    ) -> PyResult<(Vec<u32>, Vec<Vec<u32>>)> {
        let (a, d) = self.policy(allowed, disallowed)?;
        let ordinary = special_set(&self.inner, ordinary)?;
        detach(py, || {
            let sorted = self.sorted.get_or_init(|| SortedTokens::new(&self.inner));
            healing::encode_with_unstable(&self.inner, sorted, text, &a, &d, &ordinary)
        })
        .map_err(|e| to_py(py, e))
    }

    /// Ids of any byte string, valid UTF-8 or not (see `healing::encode_bytes`).
    fn encode_bytes(&self, py: Python<'_>, data: &[u8], ordinary: &Bound<'_, PyAny>) -> PyResult<Vec<u32>> {
        let ordinary = special_set(&self.inner, ordinary)?;
        detach(py, || healing::encode_bytes(&self.inner, data, &ordinary)).map_err(|e| to_py(py, e))
    }

    /// Ids of one piece without pre-tokenization: a whole token first when `whole_token_first`
    /// (tiktoken's `encode_single_piece`), else always by merging.
    fn encode_piece(&self, py: Python<'_>, piece: &[u8], whole_token_first: bool) -> PyResult<Vec<u32>> {
        let Some(bpe) = self.inner.bpe() else {
            let err = Error::Unsupported("encode_piece needs a byte-level BPE tokenizer".into());
            return Err(to_py(py, err));
        };
        Ok(detach(py, || {
            let mut out = Vec::new();
            match bpe.token_id(piece) {
                Some(id) if whole_token_first => out.push(id),
                _ => bpe.merge_piece(piece, &mut out),
            }
            out
        }))
    }

    /// Bytes of every model token, in byte order.
    fn sorted_token_bytes<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        let sorted = detach(py, || self.sorted.get_or_init(|| SortedTokens::new(&self.inner)));
        let model = self.inner.model();
        sorted
            .ids()
            .iter()
            .map(|&id| PyBytes::new(py, model.token_bytes(id).unwrap_or_default()))
            .collect()
    }
}

fn build_pretokenizer(steps: Vec<StepSpec>) -> Result<PreTokenizer, Error> {
    let steps = steps.into_iter().map(build_step).collect::<Result<Vec<_>, _>>()?;
    Ok(PreTokenizer::new(steps))
}

fn build_normalizers(names: &[String]) -> Result<Vec<Normalizer>, Error> {
    names
        .iter()
        .map(|n| {
            Normalizer::parse(n).ok_or_else(|| Error::InvalidArgument(format!("unknown normalizer {n:?}")))
        })
        .collect()
}

/// One text of a counting batch: a str, or the UTF-8 bytes a corpus reader read (checked here,
/// with the GIL released, rather than encoded from a str with it held).
enum BatchText {
    Str(PyBackedStr),
    Bytes(PyBackedBytes),
}

impl<'py> FromPyObject<'py> for BatchText {
    // By hand: a derived extraction would turn a str's UnicodeEncodeError (lone surrogates,
    // which the caller scrubs and retries) into a TypeError.
    fn extract_bound(ob: &Bound<'py, PyAny>) -> PyResult<Self> {
        if ob.is_instance_of::<PyBytes>() {
            Ok(BatchText::Bytes(ob.extract()?))
        } else {
            Ok(BatchText::Str(ob.extract()?))
        }
    }
}

impl BatchText {
    fn as_str(&self, index: usize) -> Result<&str, Error> {
        match self {
            BatchText::Str(s) => Ok(s),
            BatchText::Bytes(b) => std::str::from_utf8(b)
                .map_err(|e| Error::InvalidArgument(format!("text {index} of the batch is not UTF-8: {e}"))),
        }
    }
}

/// Streaming pre-tokenize + count (a mutable builder; one thread at a time).
#[pyclass(module = "tokenforge._core")]
struct PieceCounter {
    inner: Counter,
}

#[pymethods]
impl PieceCounter {
    #[new]
    #[pyo3(signature = (steps, normalizers, excluded, line_boundaries=true, max_memory=None))]
    fn new(
        py: Python<'_>,
        steps: Vec<StepSpec>,
        normalizers: Vec<String>,
        excluded: Vec<String>,
        line_boundaries: bool,
        max_memory: Option<usize>,
    ) -> PyResult<Self> {
        let built = (|| -> Result<Counter, Error> {
            Counter::new(
                build_pretokenizer(steps)?,
                build_normalizers(&normalizers)?,
                &excluded,
                line_boundaries,
                max_memory,
            )
        })();
        built
            .map(|inner| PieceCounter { inner })
            .map_err(|e| to_py(py, e))
    }

    /// Counts a batch of texts, each a str or UTF-8 bytes (GIL released while counting).
    fn add(&mut self, py: Python<'_>, texts: Vec<BatchText>, num_threads: usize) -> PyResult<()> {
        let inner = &mut self.inner;
        detach(py, || {
            let texts = texts
                .iter()
                .enumerate()
                .map(|(i, t)| t.as_str(i))
                .collect::<Result<Vec<&str>, Error>>()?;
            inner.add_texts(&texts, num_threads)
        })
        .map_err(|e| to_py(py, e))
    }

    /// Adds the counts (and statistics) of another counter.
    fn merge_from(&mut self, other: PyRef<'_, PieceCounter>) {
        let stats = other.inner.stats();
        self.inner.add_counts(other.inner.counts(), stats);
    }

    /// Corpus statistics and table size.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let s = self.inner.stats();
        let p = self.inner.prune_stats();
        let c = self.inner.counts();
        d.set_item("bytes", s.bytes)?;
        d.set_item("lines", s.lines)?;
        d.set_item("texts", s.texts)?;
        d.set_item("distinct", c.len())?;
        d.set_item("total", c.total())?;
        d.set_item("memory_bytes", c.memory_bytes())?;
        d.set_item("prune_passes", p.passes)?;
        d.set_item("pruned_pieces", p.pieces)?;
        d.set_item("pruned_occurrences", p.occurrences)?;
        d.set_item("prune_max_threshold", p.max_threshold)?;
        d.set_item("prune_threshold_sum", p.threshold_sum)?;
        Ok(d)
    }

    /// SHA-256 (hex) of the sorted piece counts.
    fn fingerprint(&self, py: Python<'_>) -> String {
        let counts = self.inner.counts();
        let digest = detach(py, || counts.fingerprint());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Count of one piece (0 when absent).
    fn get(&self, piece: &[u8]) -> u64 {
        self.inner.counts().get(piece).unwrap_or(0)
    }

    /// The `n` most frequent pieces, ties by bytes.
    fn most_common<'py>(&self, py: Python<'py>, n: usize) -> Vec<(Bound<'py, PyBytes>, u64)> {
        let mut all = self.inner.counts().sorted();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        all.into_iter()
            .take(n)
            .map(|(p, c)| (PyBytes::new(py, p), c))
            .collect()
    }

    fn __len__(&self) -> usize {
        self.inner.counts().len()
    }

    /// Writes counters to a `.tfc` file with `header` (JSON text).
    #[staticmethod]
    fn write(py: Python<'_>, path: &str, header: &str, tables: Vec<PyRef<'_, PieceCounter>>) -> PyResult<()> {
        let refs: Vec<&PieceCounts> = tables.iter().map(|t| t.inner.counts()).collect();
        detach(py, || -> Result<(), Error> {
            let file = File::create(path).map_err(|e| Error::Io(format!("{path}: {e}")))?;
            write_counts(BufWriter::with_capacity(1 << 20, file), header, &refs)
        })
        .map_err(|e| to_py(py, e))
    }

    /// Reads a `.tfc` file: `(header, tables)`; each table comes back as a counter without a
    /// pre-tokenizer (it only holds counts).
    #[staticmethod]
    fn read(py: Python<'_>, path: &str) -> PyResult<(String, Vec<PieceCounter>)> {
        let (header, tables) = py
            .detach(|| -> Result<(String, Vec<PieceCounts>), Error> {
                let file = File::open(path).map_err(|e| Error::Io(format!("{path}: {e}")))?;
                read_counts(file).map_err(|e| match e {
                    Error::Corpus(m) => Error::Corpus(format!("{path}: {m}")),
                    other => other,
                })
            })
            .map_err(|e| to_py(py, e))?;
        let mut out = Vec::with_capacity(tables.len());
        for table in tables {
            let mut inner =
                Counter::new(PreTokenizer::default(), vec![], &[], true, None).map_err(|e| to_py(py, e))?;
            inner.add_counts(&table, CorpusStats::default());
            out.push(PieceCounter { inner });
        }
        Ok((header, out))
    }
}

/// The BPE trainer (a mutable builder). Consumes a counter's table.
#[pyclass(module = "tokenforge._core")]
struct CoreBpeTrainer {
    inner: BpeTrainer,
}

type BaseSpec = (Vec<(Vec<u8>, u32)>, Option<Vec<(u32, u32)>>, bool);

#[pymethods]
impl CoreBpeTrainer {
    /// `base = (vocab, merges or None for ranks, ignore_merges)` continues from a model.
    #[new]
    #[pyo3(signature = (counter, base, next_id, max_new_tokens, min_frequency=2, max_token_bytes=None,
                        max_token_chars=None, max_words=None, forbid_colon_space=false, skip_existing=false,
                        drop_unseen_base_merges=false, num_threads=1, keep_counts=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        mut counter: PyRefMut<'_, PieceCounter>,
        base: Option<BaseSpec>,
        next_id: u32,
        max_new_tokens: usize,
        min_frequency: u64,
        max_token_bytes: Option<usize>,
        max_token_chars: Option<usize>,
        max_words: Option<usize>,
        forbid_colon_space: bool,
        skip_existing: bool,
        drop_unseen_base_merges: bool,
        num_threads: usize,
        keep_counts: bool,
    ) -> PyResult<Self> {
        let counts = if keep_counts {
            counter.inner.counts().clone()
        } else {
            counter.inner.take_counts()
        };
        let options = TrainOptions {
            max_new_tokens,
            min_frequency,
            max_token_bytes,
            max_token_chars,
            max_words,
            forbid_colon_space,
            skip_existing,
            drop_unseen_base_merges,
        };
        detach(py, || -> Result<BpeTrainer, Error> {
            let base = match base {
                None => None,
                Some((vocab, None, _)) => Some(Bpe::from_ranks(vocab)?),
                Some((vocab, Some(merges), ignore)) => Some(Bpe::from_merges(vocab, &merges, ignore, None)?),
            };
            BpeTrainer::new(counts.into_sorted(), base.as_ref(), next_id, options, num_threads)
        })
        .map(|inner| CoreBpeTrainer { inner })
        .map_err(|e| to_py(py, e))
    }

    /// Makes up to `n` merges (GIL released); returns how many were made, 0 once finished.
    fn step(&mut self, py: Python<'_>, n: usize) -> usize {
        let inner = &mut self.inner;
        detach(py, || inner.step(n))
    }

    /// `(left, right, id, count)` of every merge so far, in order.
    fn merges(&self) -> Vec<(u32, u32, u32, u64)> {
        self.inner
            .merges()
            .iter()
            .map(|m| (m.left, m.right, m.id, m.count))
            .collect()
    }

    fn token_bytes<'py>(&self, py: Python<'py>, id: u32) -> Option<Bound<'py, PyBytes>> {
        self.inner.token_bytes(id).map(|b| PyBytes::new(py, b))
    }

    #[getter]
    fn finished(&self) -> bool {
        self.inner.is_finished()
    }

    #[getter]
    fn new_tokens(&self) -> usize {
        self.inner.new_tokens()
    }

    /// Stop after this many new tokens (`max_new_tokens` plus the ids freed by dropped merges).
    #[getter]
    fn max_new_tokens(&self) -> usize {
        self.inner.max_new_tokens()
    }

    /// Priorities of the base merges dropped by `drop_unseen_base_merges`, ascending.
    #[getter]
    fn dropped_base_merges(&self) -> Vec<u32> {
        self.inner.dropped_base_merges().to_vec()
    }

    #[getter]
    fn word_count(&self) -> usize {
        self.inner.word_count()
    }

    #[getter]
    fn pair_count(&self) -> usize {
        self.inner.pair_count()
    }
}

type HybridRoot = (String, Option<String>, Option<String>);
/// `(id, None)` for a dictionary or marker id, `(None, text)` for a span the fallback encodes.
type SegmentUnit = (Option<u32>, Option<String>);

/// The hybrid morphological model (immutable): roots `(form, alternate, trigger)`, affix
/// templates, the fallback BPE `(vocab, merges)` with ids from 0 (None while training) and the
/// piece pattern.
#[pyclass(frozen, module = "tokenforge._core")]
struct CoreHybrid {
    inner: Hybrid,
}

#[pymethods]
impl CoreHybrid {
    #[new]
    fn new(
        py: Python<'_>,
        roots: Vec<HybridRoot>,
        affixes: Vec<String>,
        fallback: Option<FallbackBpe>,
        pattern: String,
    ) -> PyResult<Self> {
        py.detach(|| -> Result<Hybrid, Error> {
            let roots = roots
                .into_iter()
                .map(|(form, alternate, trigger)| -> Result<Root, Error> {
                    let alternate = match (alternate, trigger) {
                        (Some(alt), Some(t)) => Some((alt.into(), Trigger::parse(&t)?)),
                        (None, None) => None,
                        _ => {
                            return Err(Error::InvalidVocabulary(format!(
                                "root {form:?}: an alternate form needs a trigger and a trigger a form"
                            )))
                        }
                    };
                    Ok(Root {
                        form: form.into(),
                        alternate,
                    })
                })
                .collect::<Result<Vec<_>, Error>>()?;
            Hybrid::new(roots, &affixes, fallback, &pattern)
        })
        .map(|inner| CoreHybrid { inner })
        .map_err(|e| to_py(py, e))
    }

    #[getter]
    fn id_space(&self) -> usize {
        self.inner.id_space()
    }

    #[getter]
    fn fallback_base(&self) -> u32 {
        self.inner.fallback_base()
    }

    /// Encodes a batch of texts (GIL released).
    fn encode_batch(
        &self,
        py: Python<'_>,
        texts: Vec<PyBackedStr>,
        num_threads: usize,
    ) -> PyResult<Vec<Vec<u32>>> {
        py.detach(|| self.inner.encode_batch(&texts, num_threads))
            .map_err(|e| to_py(py, e))
    }

    /// The bytes of `ids` (GIL released).
    fn decode<'py>(&self, py: Python<'py>, ids: Vec<u32>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py.detach(|| self.inner.decode(&ids)).map_err(|e| to_py(py, e))?;
        Ok(PyBytes::new(py, &bytes))
    }

    fn token_bytes<'py>(&self, py: Python<'py>, id: u32) -> Option<Bound<'py, PyBytes>> {
        self.inner.token_bytes(id).map(|b| PyBytes::new(py, b))
    }

    fn affix_template(&self, id: u32) -> Option<String> {
        self.inner.affix_template(id).map(str::to_string)
    }

    /// The units of each piece of `text`: `(piece, [(id, None) | (None, residue text)])`.
    fn segment(&self, py: Python<'_>, text: &str) -> PyResult<Vec<(String, Vec<SegmentUnit>)>> {
        let mut out = Vec::new();
        let mut units = Vec::new();
        self.inner
            .for_each_piece(text, &mut |piece| {
                units.clear();
                let seg = self.inner.segment_piece(piece, &mut units);
                let items = units
                    .iter()
                    .map(|u| match *u {
                        HybridUnit::Id(id) => (Some(id), None),
                        HybridUnit::Residue(a, b) => (None, Some(seg[a..b].to_string())),
                    })
                    .collect();
                out.push((piece.to_string(), items));
            })
            .map_err(|e| to_py(py, e))?;
        Ok(out)
    }

    /// Segments every piece of `counter` (GIL released): the residue counts (the fallback's
    /// training table) and the use count of each root.
    fn residues(
        &self,
        py: Python<'_>,
        counter: PyRef<'_, PieceCounter>,
    ) -> PyResult<(PieceCounter, Vec<u64>)> {
        let counts = counter.inner.counts();
        let (table, roots) = py.detach(|| {
            let sorted = counts.sorted();
            let mut table = PieceCounts::new();
            let mut roots = vec![0u64; self.inner.root_count()];
            self.inner.residues(&sorted, &mut table, &mut roots);
            (table, roots)
        });
        let mut inner =
            Counter::new(PreTokenizer::default(), vec![], &[], true, None).map_err(|e| to_py(py, e))?;
        inner.add_counts(&table, CorpusStats::default());
        Ok((PieceCounter { inner }, roots))
    }
}

/// Every surface form of an affix template (`lAr` -> `lar`, `ler`).
#[pyfunction]
fn hybrid_affix_forms(py: Python<'_>, template: &str) -> PyResult<Vec<String>> {
    tokenforge_core::model::hybrid::affix_forms(template).map_err(|e| to_py(py, e))
}

type UnigramResult<'py> = (Vec<(String, f64)>, Bound<'py, PyDict>);

/// Trains a Unigram model on a counter's table (GIL released): `(pieces, stats)` with pieces as
/// `(text, log-probability)` best first.
#[pyfunction]
#[pyo3(signature = (counter, pieces, max_piece_length, character_coverage, split_digits, split_by_number,
                    split_by_script, whitespace_as_suffix, seed_size, shrinking_factor, sub_iterations,
                    num_threads=1, keep_counts=false, on_round=None))]
#[allow(clippy::too_many_arguments)]
fn train_unigram<'py>(
    py: Python<'py>,
    mut counter: PyRefMut<'_, PieceCounter>,
    pieces: usize,
    max_piece_length: usize,
    character_coverage: f64,
    split_digits: bool,
    split_by_number: bool,
    split_by_script: bool,
    whitespace_as_suffix: bool,
    seed_size: usize,
    shrinking_factor: f64,
    sub_iterations: usize,
    num_threads: usize,
    keep_counts: bool,
    on_round: Option<Py<PyAny>>,
) -> PyResult<UnigramResult<'py>> {
    let counts = if keep_counts {
        counter.inner.counts().clone()
    } else {
        counter.inner.take_counts()
    };
    let options = UnigramOptions {
        pieces,
        max_piece_length,
        character_coverage,
        split_digits,
        split_by_number,
        split_by_script,
        whitespace_as_suffix,
        seed_size,
        shrinking_factor,
        sub_iterations,
    };
    let mut report = Reporter::new(on_round);
    let model = detach(py, || {
        tokenforge_core::train_unigram(&counts.into_sorted(), &options, num_threads, &mut |r| {
            report.call((r.pieces, r.objective))
        })
    })
    .map_err(|e| to_py(py, e))?;
    report.finish()?;
    let stats = PyDict::new(py);
    stats.set_item("required_chars", model.required_chars)?;
    stats.set_item("seen_chars", model.seen_chars)?;
    stats.set_item("words", model.words)?;
    stats.set_item("seeds", model.seeds)?;
    stats.set_item("em_rounds", model.rounds.len())?;
    Ok((model.pieces, stats))
}

/// A Python progress callable called from a training loop that runs without the GIL: each call
/// takes the GIL for the call only; the first exception is kept and raised when training ends.
struct Reporter {
    callback: Option<Py<PyAny>>,
    error: Option<PyErr>,
}

impl Reporter {
    fn new(callback: Option<Py<PyAny>>) -> Reporter {
        Reporter {
            callback,
            error: None,
        }
    }

    fn call<A>(&mut self, args: A)
    where
        A: for<'py> pyo3::call::PyCallArgs<'py>,
    {
        if self.error.is_some() {
            return;
        }
        if let Some(callback) = &self.callback {
            // Asking for the GIL mid-run is safe only before interpreter exit (see `exit`).
            exit::before_reacquire();
            let called = Python::attach(|py| callback.call1(py, args).map(drop));
            exit::after_reacquire();
            if let Err(e) = called {
                self.error = Some(e);
            }
        }
    }

    fn finish(self) -> PyResult<()> {
        self.error.map_or(Ok(()), Err)
    }
}

type LibResult<'py> = (Vec<(String, u64)>, Bound<'py, PyDict>);

/// Learns a LiB lexicon from a counter's table (GIL released): `(pieces, stats)` with pieces as
/// `(text, token count under LiB's segmentation)` in id order. `on_article(done, total, size)`.
#[pyfunction]
#[pyo3(signature = (counter, pieces, in_rate, out_rate, life, update_rate, max_chunk_length,
                    article_sentences, passes, character_coverage, words, seed, num_threads=1,
                    keep_counts=false, on_article=None, inspect_context=false))]
#[allow(clippy::too_many_arguments)]
fn train_lib<'py>(
    py: Python<'py>,
    mut counter: PyRefMut<'_, PieceCounter>,
    pieces: usize,
    in_rate: f64,
    out_rate: f64,
    life: u32,
    update_rate: f64,
    max_chunk_length: usize,
    article_sentences: usize,
    passes: usize,
    character_coverage: f64,
    words: bool,
    seed: u64,
    num_threads: usize,
    keep_counts: bool,
    on_article: Option<Py<PyAny>>,
    inspect_context: bool,
) -> PyResult<LibResult<'py>> {
    let counts = if keep_counts {
        counter.inner.counts().clone()
    } else {
        counter.inner.take_counts()
    };
    let options = LibOptions {
        pieces,
        in_rate,
        out_rate,
        life,
        update_rate,
        max_chunk_length,
        article_sentences,
        passes,
        character_coverage,
        words,
        inspect_context,
        seed,
    };
    let mut report = Reporter::new(on_article);
    let lexicon = detach(py, || {
        tokenforge_core::train_lib(
            &counts.into_sorted(),
            &options,
            num_threads,
            &mut |done, total, size| report.call((done, total, size)),
        )
    })
    .map_err(|e| to_py(py, e))?;
    report.finish()?;
    let stats = PyDict::new(py);
    stats.set_item("lexicon_size", lexicon.lexicon_size)?;
    stats.set_item("on_probation", lexicon.on_probation)?;
    stats.set_item("required_chars", lexicon.required_chars)?;
    stats.set_item("seen_chars", lexicon.seen_chars)?;
    stats.set_item("articles", lexicon.articles)?;
    stats.set_item("passes", lexicon.passes)?;
    stats.set_item("sentences", lexicon.sentences)?;
    stats.set_item("tokens", lexicon.tokens)?;
    stats.set_item("chars", lexicon.chars)?;
    Ok((lexicon.pieces, stats))
}

/// `.tiktoken` content -> `(tokens, ranks)` in file order (errors name the line). Two lists rather
/// than a list of pairs: 200k tuples woke the cyclic garbage collector again and again.
#[pyfunction]
fn parse_tiktoken<'py>(py: Python<'py>, data: &[u8]) -> PyResult<(Vec<Bound<'py, PyBytes>>, Vec<u32>)> {
    let pairs = py
        .detach(|| tokenforge_core::tiktoken_file::parse_tiktoken(data))
        .map_err(|e| to_py(py, e))?;
    Ok(pairs
        .into_iter()
        .map(|(token, rank)| (PyBytes::new(py, &token), rank))
        .unzip())
}

/// Pieces of `text` under `pattern` (an isolated regex split). `scanner=True` uses the hand-written
/// scanner when the pattern is a preset, `False` always the regex engine: for differential tests.
#[pyfunction]
#[pyo3(signature = (pattern, text, scanner=true))]
fn split_pieces(py: Python<'_>, pattern: &str, text: &str, scanner: bool) -> PyResult<Vec<String>> {
    let built = if scanner {
        Step::regex(pattern, SplitBehavior::Isolated, false)
    } else {
        Step::regex_only(pattern, SplitBehavior::Isolated, false)
    };
    let pre = PreTokenizer::new(vec![built.map_err(|e| to_py(py, e))?]);
    let mut pieces = Vec::new();
    detach(py, || {
        pre.for_each_piece(text, |p: &str| pieces.push(p.to_string()))
    })
    .map_err(|e| to_py(py, e))?;
    Ok(pieces)
}

/// `gil_used = false`: the module is sound without a GIL. Tokenizers are frozen pyclasses whose
/// only interior mutability is behind `Mutex` (piece caches, thread pools) or `OnceLock` (sorted
/// tokens); the counting and training classes are mutated only through PyO3's borrow checking
/// (atomic on free-threaded builds: a concurrent mutation raises instead of racing); text is
/// borrowed from immutable `str` objects held for the whole call.
#[pymodule(gil_used = false)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<CoreHybrid>()?;
    m.add_function(wrap_pyfunction!(hybrid_affix_forms, m)?)?;
    let before_exit = wrap_pyfunction!(exit::_before_exit, m)?;
    m.py()
        .import("atexit")?
        .call_method1("register", (&before_exit,))?;
    m.add_function(before_exit)?;
    exit::reset_in_forked_children();
    m.add_class::<CoreTokenizer>()?;
    m.add_class::<PieceCounter>()?;
    m.add_class::<CoreBpeTrainer>()?;
    m.add_function(wrap_pyfunction!(split_pieces, m)?)?;
    m.add_function(wrap_pyfunction!(parse_tiktoken, m)?)?;
    m.add_function(wrap_pyfunction!(train_unigram, m)?)?;
    m.add_function(wrap_pyfunction!(train_lib, m)?)?;
    let presets: Vec<(&str, &str)> = Preset::ALL
        .iter()
        .map(|(_, name, pattern)| (*name, *pattern))
        .collect();
    m.add("PRESET_PATTERNS", presets)?;
    m.add("HEAP_THRESHOLD", tokenforge_core::bpe::HEAP_THRESHOLD)?;
    Ok(())
}
