//! Field slots and the per-event index shared by every rule.
//!
//! Compiling a rule interns each field path it reads into a process-wide table and keeps the
//! slot number. Per event the engine builds ONE [`IndexedEvent`] (a slot → value table, filled by
//! one hash lookup per event field) and hands it to every rule; a rule then reads a field with an
//! array index. [`FieldIndex`] owns the reusable buffers so building an index does not allocate
//! once warm:
//!
//! ```ignore
//! let mut index = FieldIndex::new();
//! for ev in events {
//!     let ix = index.index(&ev);
//!     for rule in &rules { if rule.filter.matches_indexed(&ix) { /* ... */ } }
//! }
//! ```

use crate::detect::memo::Policy;
use crate::event::{Event, Key, Value};
use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

/// The hasher of the engine's string-keyed tables (interned paths, literal sets, memos,
/// sequence and sample join keys): foldhash, seeded per table. Values looked up come from
/// events (file and process names), so an attacker must not be able to pick ones that
/// collide; and it hashes 16 bytes per multiply where FxHash did 8.
pub type StrBuild = foldhash::fast::RandomState;
pub type StrMap<K, V> = HashMap<K, V, StrBuild>;
pub type StrSet<K> = std::collections::HashSet<K, StrBuild>;

/// A string as the tables above are probed with: equality by [`same_bytes`] instead of a call
/// to `memcmp`, the same hash as `str` (so a table keyed by `CompactString` or `Box<str>` finds
/// it). Most probes are short values (names, actions), where the call costs more than the
/// comparison.
#[repr(transparent)]
pub struct Text(str);

impl Text {
    #[inline]
    pub fn of(s: &str) -> &Text {
        // SAFETY: `Text` is `repr(transparent)` over `str`: the same layout and metadata.
        unsafe { &*(s as *const str as *const Text) }
    }
}

impl PartialEq for Text {
    #[inline]
    fn eq(&self, other: &Text) -> bool {
        same_bytes(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for Text {}

impl std::hash::Hash for Text {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}

impl std::borrow::Borrow<Text> for compact_str::CompactString {
    #[inline]
    fn borrow(&self) -> &Text {
        Text::of(self)
    }
}

impl std::borrow::Borrow<Text> for Box<str> {
    #[inline]
    fn borrow(&self) -> &Text {
        Text::of(self)
    }
}

/// `a == b`, with strings up to 16 bytes compared in registers: most values and patterns
/// are short, and a call to `memcmp` costs more than comparing them.
#[inline]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    // Two overlapping words cover every byte of a string of one to two words.
    let word = |x: &[u8], at: usize| u64::from_le_bytes(x[at..at + 8].try_into().unwrap_or([0; 8]));
    let half = |x: &[u8], at: usize| u32::from_le_bytes(x[at..at + 4].try_into().unwrap_or([0; 4]));
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

/// Index of an interned field path.
pub type Slot = u32;

#[derive(Default)]
struct Interner {
    map: StrMap<Box<str>, Slot>,
    names: Vec<Box<str>>,
}

/// `Interner::names.len()`, readable without the lock: every event's index asks it, and a
/// lock's read-modify-write costs more than the rest of indexing a known shape.
static KNOWN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn interner() -> &'static RwLock<Interner> {
    static I: OnceLock<RwLock<Interner>> = OnceLock::new();
    I.get_or_init(Default::default)
}

/// The slot of `path`, interning it on first use.
pub fn slot_of(path: &str) -> Slot {
    if let Some(&s) = interner()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .map
        .get(path)
    {
        return s;
    }
    let mut w = interner().write().unwrap_or_else(|e| e.into_inner());
    if let Some(&s) = w.map.get(path) {
        return s;
    }
    let s = w.names.len() as Slot;
    w.names.push(path.into());
    w.map.insert(path.into(), s);
    // Published after the name: a reader that sees the count finds the name under the lock.
    KNOWN.store(w.names.len() as u32, std::sync::atomic::Ordering::Release);
    s
}

/// The path interned as `slot`.
pub fn slot_name(slot: Slot) -> String {
    interner()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .names
        .get(slot as usize)
        .map_or_else(String::new, |n| n.to_string())
}

/// Reusable buffers for building [`IndexedEvent`]s.
#[derive(Default)]
pub struct FieldIndex {
    /// Per slot: (generation, field position in the event; `ABSENT` for a field an overlay
    /// removes).
    table: Vec<(u32, u32)>,
    generation: u32,
    /// The slots the last indexed event has, in field order.
    present: Vec<Slot>,
    /// Static keys seen before, by address: (address, length, slot), direct-mapped. Producers
    /// use a few hundred `'static` key strings whose address identifies their text, so most
    /// keys resolve without hashing whatever order or shape the events come in.
    seen: Vec<(usize, usize, Slot)>,
    /// Interner size `seen` was filled against (a longer interner may know more keys).
    seen_names: usize,
    /// Slot tables of recent event shapes, direct-mapped by a hash of the keys.
    shapes: Vec<Shape>,
    shape_policy: Policy,
    /// Interner size the shapes were built against.
    shape_names: usize,
    /// The key ids (as `Shape::keys`) of the event being indexed (reused).
    ids: Vec<usize>,
}

/// The last shape id given out: ids are unique across every `FieldIndex` (0 is no shape), so
/// a pair of them names one pair of shapes wherever the events were indexed.
static SHAPE_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A key as a shape holds it: a static key by its address, an owned one (a rarer
/// `auditd.data.*` or `auditd.paths.*` name) as `OWNED` (its text is kept apart); and its
/// length with whether an overlay's value is `Null` (which removes the field).
#[inline(always)]
fn key_id(k: &Key, v: &Value, overlay: bool) -> (usize, usize) {
    let null = (overlay && matches!(v, Value::Null)) as usize;
    match k {
        std::borrow::Cow::Borrowed(b) => (b.as_ptr() as usize, b.len() << 1 | null),
        std::borrow::Cow::Owned(o) => (OWNED, o.len() << 1 | null),
    }
}

/// Whether an event whose key ids are `ids` has `sh`'s shape (`owned`: it has owned keys,
/// whose text is compared too).
#[inline(always)]
fn fits(sh: &Shape, ids: &[usize], ev: &Event, owned: bool) -> bool {
    if sh.keys[..] != *ids {
        return false;
    }
    if !owned {
        return true;
    }
    let mut text = &sh.text[..];
    ev.fields.iter().all(|(k, _)| match k {
        std::borrow::Cow::Borrowed(_) => true,
        std::borrow::Cow::Owned(o) => {
            let (mine, rest) = text.split_at(o.len().min(text.len()));
            text = rest;
            mine == o.as_bytes()
        }
    })
}

/// The slot table of one event shape. Events of one kind have the same keys in the same order
/// (producers name fields with `'static` strings, whose address identifies their text), so
/// their slot tables are equal: an event of a known shape is indexed by comparing its keys,
/// with no per-field lookups or writes.
#[derive(Default)]
struct Shape {
    /// Per field, two words: the key's address or `OWNED`, and its length << 1 | whether the
    /// value is `Null` in an overlay.
    keys: Vec<usize>,
    /// The owned keys' text, one after the other.
    text: Vec<u8>,
    /// (`SHAPE_GEN`, position) per slot the shape has, up to its highest slot.
    table: Vec<(u32, u32)>,
    present: Vec<Slot>,
    /// Tells this shape from every other one ever built (0: none yet).
    id: u64,
}

const SHAPES: usize = 64;
/// Events with more fields are indexed afresh (a shape is compared field by field).
const MAX_SHAPE_FIELDS: usize = 512;
/// `Shape::keys`' address of an owned key (no static string lives there).
const OWNED: usize = usize::MAX;
/// The generation of every entry of a shape's table (a shape's table is never reused for
/// another event's entries, so it needs no other).
const SHAPE_GEN: u32 = 1;

const NO_SLOT: Slot = Slot::MAX;
const ABSENT: u32 = u32::MAX;
const SEEN: usize = 1024;

impl FieldIndex {
    pub fn new() -> FieldIndex {
        FieldIndex::default()
    }

    /// Indexes `ev`: one hash lookup per event field, against the paths rules use.
    pub fn index<'a>(&'a mut self, ev: &'a Event) -> IndexedEvent<'a> {
        let l = self.layer(ev, false);
        IndexedEvent {
            ev,
            table: l.table,
            generation: l.generation,
            present: l.present,
            known: l.known,
            shape: l.shape,
            over: None,
        }
    }

    /// Indexes `base`'s event as changed by `overlay`: the overlay's fields replace the
    /// base's, and an overlay field whose value is `Null` removes it. A view of an event
    /// (Elastic Defend's) is indexed this way, indexing only the fields it changes.
    pub fn index_over<'a>(
        &'a mut self,
        base: &IndexedEvent<'a>,
        overlay: &'a Event,
    ) -> IndexedEvent<'a> {
        IndexedEvent {
            over: Some(self.layer(overlay, true)),
            ..*base
        }
    }

    /// The slot table of `ev`: its shape's when the shape is known, else built afresh.
    fn layer<'a>(&'a mut self, ev: &'a Event, overlay: bool) -> Layer<'a> {
        let known = KNOWN.load(std::sync::atomic::Ordering::Acquire);
        if let Some(at) = self.shape(ev, overlay, known) {
            let sh = &self.shapes[at];
            return Layer {
                ev,
                table: &sh.table,
                generation: SHAPE_GEN,
                present: &sh.present,
                known,
                shape: sh.id,
            };
        }
        let generation = self.build(ev, overlay);
        Layer {
            ev,
            table: &self.table,
            generation,
            present: &self.present,
            known,
            shape: 0,
        }
    }

    /// The entry in `shapes` for `ev`'s shape, built on first sight; `None` while shapes
    /// rarely repeat (the memo policy) and for events of more than `MAX_SHAPE_FIELDS` fields.
    fn shape(&mut self, ev: &Event, overlay: bool, known: u32) -> Option<usize> {
        if self.shape_names != known as usize {
            self.shapes.iter_mut().for_each(|s| s.keys.clear());
            self.shape_names = known as usize;
        }
        let shapes = &mut self.shapes;
        if !self
            .shape_policy
            .consult(0, || shapes.iter_mut().for_each(|s| s.keys.clear()))
        {
            return None;
        }
        let n = ev.fields.len();
        if n == 0 || n > MAX_SHAPE_FIELDS {
            return None;
        }
        // One pass over the keys: their ids, and a hash of the addresses (a static key's
        // address fixes its length; owned keys all hash alike): the comparison of the ids tells
        // apart what the hash mixes up.
        let mut h = n as u64;
        let mut owned = false;
        self.ids.resize(2 * n, 0);
        for (id, (k, v)) in self.ids.chunks_exact_mut(2).zip(&ev.fields) {
            let (a, l) = key_id(k, v, overlay);
            owned |= a == OWNED;
            h = (h ^ a as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            id[0] = a;
            id[1] = l;
        }
        if self.shapes.is_empty() {
            self.shapes.resize_with(SHAPES, Shape::default);
        }
        // Two-way set associative, most recent first: two shapes that hash alike do not
        // evict each other.
        let set = ((h >> 58) as usize % SHAPES) & !1;
        if fits(&self.shapes[set], &self.ids, ev, owned) {
            return Some(set);
        }
        self.shapes.swap(set, set + 1);
        if fits(&self.shapes[set], &self.ids, ev, owned) {
            return Some(set);
        }
        let sh = &mut self.shapes[set];
        self.shape_policy.missed();
        // Build the shape's table (the first occurrence of a key wins, like `Event::get`).
        let int = interner().read().unwrap_or_else(|e| e.into_inner());
        sh.keys.clear();
        sh.text.clear();
        sh.table.clear();
        sh.present.clear();
        sh.id = SHAPE_IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        sh.keys.extend_from_slice(&self.ids);
        for (pos, (k, v)) in ev.fields.iter().enumerate() {
            if matches!(k, std::borrow::Cow::Owned(_)) {
                sh.text.extend_from_slice(k.as_bytes());
            }
            let Some(&slot) = int.map.get(&**k) else {
                continue;
            };
            let i = slot as usize;
            if sh.table.len() <= i {
                sh.table.resize(i + 1, (0, 0));
            }
            if sh.table[i].0 == 0 {
                sh.present.push(slot);
                let p = if overlay && matches!(v, Value::Null) {
                    ABSENT
                } else {
                    pos as u32
                };
                sh.table[i] = (SHAPE_GEN, p);
            }
        }
        Some(set)
    }

    fn build(&mut self, ev: &Event, overlay: bool) -> u32 {
        self.generation = self.generation.wrapping_add(1);
        // Shape tables' entries carry `SHAPE_GEN`; the own table's generations start above.
        if self.generation <= SHAPE_GEN {
            self.table.iter_mut().for_each(|e| e.0 = 0);
            self.generation = SHAPE_GEN + 1;
        }
        let g = self.generation;
        self.present.clear();
        let int = interner().read().unwrap_or_else(|e| e.into_inner());
        if self.table.len() < int.names.len() {
            self.table.resize(int.names.len(), (0, 0));
        }
        if self.seen_names != int.names.len() || self.seen.is_empty() {
            self.seen.clear();
            self.seen.resize(SEEN, (0, 0, NO_SLOT));
            self.seen_names = int.names.len();
        }
        for (pos, (k, v)) in ev.fields.iter().enumerate() {
            let slot = match k {
                std::borrow::Cow::Borrowed(b) => {
                    let id = (b.as_ptr() as usize, b.len());
                    // Two-way set associative: two keys that hash alike do not evict each
                    // other forever.
                    let h = (id.0 ^ id.1 << 48).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 54;
                    let at = (h % SEEN) & !1;
                    let (a, b2) = (self.seen[at], self.seen[at + 1]);
                    if (a.0, a.1) == id {
                        a.2
                    } else if (b2.0, b2.1) == id {
                        b2.2
                    } else {
                        let s = int.map.get(*b).copied().unwrap_or(NO_SLOT);
                        self.seen[at + 1] = a;
                        self.seen[at] = (id.0, id.1, s);
                        s
                    }
                }
                std::borrow::Cow::Owned(o) => int.map.get(o.as_str()).copied().unwrap_or(NO_SLOT),
            };
            if slot == NO_SLOT {
                continue;
            }
            let entry = &mut self.table[slot as usize];
            // The first occurrence wins, like `Event::get`.
            if entry.0 != g {
                self.present.push(slot);
                let at = if overlay && matches!(v, Value::Null) {
                    ABSENT
                } else {
                    pos as u32
                };
                *entry = (g, at);
            }
        }
        g
    }
}

/// One event's slot table: (generation, position) per slot.
#[derive(Clone, Copy)]
struct Layer<'a> {
    ev: &'a Event,
    table: &'a [(u32, u32)],
    generation: u32,
    present: &'a [Slot],
    /// Slots below this were interned when the table was built: one beyond the table's end
    /// is absent.
    known: u32,
    /// The id of the shape whose table this is (0: built for this event alone).
    shape: u64,
}

/// One event with its fields resolved to slots; build with [`FieldIndex::index`] (or
/// [`IndexedEvent::build`] for one-off use) and share across all rules.
#[derive(Clone, Copy)]
pub struct IndexedEvent<'a> {
    ev: &'a Event,
    table: &'a [(u32, u32)],
    generation: u32,
    /// The event's slots (those rules use), in field order.
    present: &'a [Slot],
    known: u32,
    shape: u64,
    /// A view's changes (`FieldIndex::index_over`), read before the event's own fields.
    over: Option<Layer<'a>>,
}

impl<'a> IndexedEvent<'a> {
    /// The indexed event (the base event when an overlay is indexed over it; its timestamp
    /// and arrival are the view's).
    pub fn event(&self) -> &'a Event {
        self.ev
    }

    /// The slots rules use that the event has (for a view: the event's own), each once.
    pub(crate) fn present(&self) -> &'a [Slot] {
        self.present
    }

    /// For a view: the slots it sets or removes, each once; empty otherwise.
    pub(crate) fn view_present(&self) -> &'a [Slot] {
        self.over.map_or(&[], |o| o.present)
    }

    /// Ids of the event's shape and of its view's (0 without a view); `None` when either was
    /// indexed afresh. Events with the same shapes have every field at the same position.
    pub(crate) fn shapes(&self) -> Option<(u64, u64)> {
        let over = self
            .over
            .map_or(Some(0), |o| (o.shape != 0).then_some(o.shape));
        over.filter(|_| self.shape != 0).map(|o| (self.shape, o))
    }

    /// The same event, as if indexed without a shape (tests of shape-based shortcuts).
    #[cfg(test)]
    pub(crate) fn unshaped(mut self) -> Self {
        self.shape = 0;
        self
    }

    /// Where the event's own field at `slot` is (`None`: absent).
    pub(crate) fn own_position(&self, slot: Slot) -> Option<u32> {
        match self.table.get(slot as usize) {
            Some(&(g, pos)) if g == self.generation => Some(pos),
            _ => None,
        }
    }

    /// What the view does to `slot`: `None` leaves the event's field, `Some(None)` removes
    /// it, `Some(Some(p))` sets it to the view's field at `p`.
    pub(crate) fn view_position(&self, slot: Slot) -> Option<Option<u32>> {
        let o = self.over.as_ref()?;
        match o.table.get(slot as usize) {
            Some(&(g, pos)) if g == o.generation => Some((pos != ABSENT).then_some(pos)),
            _ => None,
        }
    }

    /// The event's own field at `pos` (from [`own_position`](Self::own_position)).
    pub(crate) fn own_at(&self, pos: u32) -> Option<&'a Value> {
        self.ev.fields.get(pos as usize).map(|(_, v)| v)
    }

    /// The view's field at `pos` (from [`view_position`](Self::view_position)).
    pub(crate) fn view_at(&self, pos: u32) -> Option<&'a Value> {
        let o = self.over.as_ref()?;
        o.ev.fields.get(pos as usize).map(|(_, v)| v)
    }

    /// The value at `slot`, if the event has that field. Slots interned after the index was
    /// built fall back to a scan.
    #[inline]
    pub fn get(&self, slot: Slot) -> Option<&'a Value> {
        if let Some(o) = &self.over {
            match o.table.get(slot as usize) {
                Some(&(g, pos)) if g == o.generation => {
                    return if pos == ABSENT {
                        None
                    } else {
                        o.ev.fields.get(pos as usize).map(|(_, v)| v)
                    };
                }
                Some(_) => {}
                None if slot < o.known => {}
                None => return self.get_by_name(slot),
            }
        }
        match self.table.get(slot as usize) {
            Some(&(g, pos)) if g == self.generation => {
                self.ev.fields.get(pos as usize).map(|(_, v)| v)
            }
            Some(_) => None,
            None if slot < self.known => None,
            None => self.get_by_name(slot),
        }
    }

    #[cold]
    #[inline(never)]
    fn get_by_name(&self, slot: Slot) -> Option<&'a Value> {
        let name = slot_name(slot);
        match self.over.and_then(|o| o.ev.get(&name)) {
            Some(Value::Null) => None,
            Some(v) => Some(v),
            None => self.ev.get(&name),
        }
    }
}

/// The values of a possibly multi-valued field; `Null` entries are skipped.
#[inline]
pub fn each_value(v: &Value) -> impl Iterator<Item = &Value> {
    let items: &[Value] = match v {
        Value::List(l) => l,
        other => std::slice::from_ref(other),
    };
    items.iter().filter(|v| !matches!(v, Value::Null))
}

/// True when the field has at least one non-null value.
#[inline]
pub fn present(v: Option<&Value>) -> bool {
    v.is_some_and(|v| each_value(v).next().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table keyed by `CompactString` or `Box<str>` finds a `Text` exactly when it finds the
    /// `str`: same hash, same equality, over lengths around the word boundaries.
    #[test]
    fn text_probes_as_str() {
        use compact_str::CompactString;
        let keys: Vec<String> = (0..40).map(|n| "ab/c.".repeat(8)[..n].to_owned()).collect();
        let compact: StrMap<CompactString, usize> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_str().into(), i))
            .collect();
        let boxed: StrMap<Box<str>, usize> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_str().into(), i))
            .collect();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(compact.get(Text::of(k)), Some(&i), "{k:?}");
            assert_eq!(boxed.get(Text::of(k)), Some(&i), "{k:?}");
            let other = format!("{k}x");
            assert_eq!(compact.get(Text::of(&other)), compact.get(other.as_str()));
            let mut flipped = k.clone().into_bytes();
            if let Some(b) = flipped.last_mut() {
                *b ^= 0x20;
            }
            let flipped = String::from_utf8(flipped).expect("ascii");
            assert_eq!(
                compact.get(Text::of(&flipped)),
                compact.get(flipped.as_str())
            );
        }
    }

    /// The register comparison agrees with `==` for every length up to past two words, with
    /// a difference at every position.
    #[test]
    fn same_bytes_is_equality() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n as u8).map(|i| b'a' + i % 26).collect();
            assert!(same_bytes(&a, &a.clone()), "{n}");
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same_bytes(&a, &b), "{n} at {at}");
            }
            assert!(!same_bytes(&a, &a[..n.saturating_sub(1)]) || n == 0);
        }
    }

    /// Indexing an overlay over an event reads exactly what indexing the overlaid copy does,
    /// for fields kept, replaced, added and removed, interned before or after the index.
    #[test]
    fn overlay_index_reads_like_the_overlaid_event() {
        let mut base = Event::new(5);
        base.push("t.kept", "k");
        base.push("t.replaced", "old");
        base.push("t.removed", "gone");
        base.push(std::borrow::Cow::Owned("t.owned".to_owned()), 7i64);
        let mut over = Event::new(5);
        over.push("t.replaced", "new");
        over.push("t.added", Value::List(vec!["a".into()]));
        over.push("t.removed", Value::Null);
        over.push("t.never", Value::Null);
        let names = [
            "t.kept",
            "t.replaced",
            "t.removed",
            "t.owned",
            "t.added",
            "t.never",
            "t.none",
        ];
        let early: Vec<Slot> = names[..4].iter().map(|n| slot_of(n)).collect();
        let full = base.overlaid(&over);
        for round in 0..2 {
            let mut a = FieldIndex::new();
            let mut a2 = FieldIndex::new();
            let mut b = FieldIndex::new();
            let ia_base = a.index(&base);
            let ia = a2.index_over(&ia_base, &over);
            if round == 1 {
                // Slots interned after the index was built take the scan path.
                names.iter().for_each(|n| {
                    slot_of(n);
                });
            }
            let ib = b.index(&full);
            for n in names {
                let s = slot_of(n);
                assert_eq!(ia.get(s), ib.get(s), "{n} (round {round})");
                assert_eq!(ib.get(s), full.get(n).filter(|v| !matches!(v, Value::Null)));
            }
            assert!(early.iter().all(|&s| ia.get(s) == ib.get(s)));
        }
        assert_eq!(full.get_str("t.replaced"), Some("new"));
        assert!(full.get("t.removed").is_none() && full.get("t.never").is_none());
    }

    /// One index reused over events of repeating shapes (remembered) and changing ones, with
    /// static and owned keys, nulls in overlays and slots interned in between, reads what the
    /// events hold.
    #[test]
    fn shapes_read_like_the_events() {
        let names = ["s.a", "s.b", "s.c", "s.d", "s.late"];
        names[..4].iter().for_each(|n| {
            slot_of(n);
        });
        let mut fi = FieldIndex::new();
        let mut fo = FieldIndex::new();
        for i in 0..200i64 {
            let mut base = Event::new(i);
            base.push("s.a", i);
            if i % 3 == 0 {
                base.push("s.b", "b");
            }
            if i % 7 == 0 {
                base.push(std::borrow::Cow::Owned("s.c".to_owned()), "owned");
            }
            // Owned keys of one length at one place: told apart by their text.
            let owned = ["s.d", "s.b", "s.x"][i as usize % 3];
            base.push(std::borrow::Cow::Owned(owned.to_owned()), i * 10);
            base.push("s.a", "second occurrence loses");
            let mut over = Event::new(i);
            over.push("s.b", if i % 2 == 0 { Value::Null } else { "ob".into() });
            over.push("s.d", "d");
            if i == 100 {
                slot_of("s.late");
            }
            let ib = fi.index(&base);
            let io = fo.index_over(&ib, &over);
            let full = base.overlaid(&over);
            for n in names {
                let s = slot_of(n);
                let want = |e: &Event| e.get(n).filter(|v| !matches!(v, Value::Null)).cloned();
                assert_eq!(ib.get(s).cloned(), want(&base), "{n} event {i}");
                assert_eq!(io.get(s).cloned(), want(&full), "{n} view {i}");
            }
        }
        assert!(
            fi.shapes.iter().any(|s| !s.keys.is_empty()),
            "shapes are remembered"
        );
    }
}
