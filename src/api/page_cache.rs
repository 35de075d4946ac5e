//! A small bounded cache of rendered answer parts (the `packages` array of an inventory page),
//! keyed by the query and by the identity of the shared sets the part was rendered from.
//!
//! Why identity and not a stamp of its own: the inventory hands out its installed set and
//! its upgradable set as `Arc`s and swaps in a new `Arc` exactly when it re-reads the
//! database (its stamp changed) or recomputes the upgrades. An `Arc`'s contents never change,
//! so a part rendered from the same two `Arc`s is the part that would be rendered now, and a
//! part rendered from any older set can never be served. Entries hold the sets weakly: the
//! set's memory goes when the inventory drops it, while its address stays reserved (a weak
//! reference keeps the allocation's header), so a later set can never take it and match by
//! accident.

use std::any::Any;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// A shared value a cached part was rendered from, held weakly.
#[derive(Clone)]
pub struct Source(Weak<dyn Any + Send + Sync>);

impl Source {
    /// The identity of `value` (not its contents: a new `Arc` is a new source).
    pub fn of<T: Any + Send + Sync>(value: &Arc<T>) -> Source {
        let weak: Weak<T> = Arc::downgrade(value);
        Source(weak)
    }

    fn is(&self, other: &Source) -> bool {
        std::ptr::addr_eq(self.0.as_ptr(), other.0.as_ptr())
    }
}

fn same_sources(a: &[Source], b: &[Source]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.is(y))
}

/// How much the cache may hold: both bounds apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// At most this many entries.
    pub entries: usize,
    /// At most this many bytes of rendered parts, summed (a part larger than this is
    /// served but never kept).
    pub bytes: usize,
}

/// One cached part.
struct Slot<K, V> {
    key: K,
    sources: Vec<Source>,
    value: Arc<V>,
    bytes: usize,
}

/// The entries, least recently used first.
struct Slots<K, V> {
    list: Vec<Slot<K, V>>,
    bytes: usize,
}

impl<K, V> Slots<K, V> {
    /// Drops every entry rendered from other sources than `current`: the inventory only
    /// moves forward, so they can never be served again, and their memory is better free.
    fn drop_stale(&mut self, current: &[Source]) {
        self.list.retain(|s| same_sources(&s.sources, current));
        self.bytes = self.list.iter().map(|s| s.bytes).sum();
    }

    fn remove(&mut self, at: usize) -> Slot<K, V> {
        let slot = self.list.remove(at);
        self.bytes -= slot.bytes;
        slot
    }
}

/// A least-recently-used cache of rendered parts, bounded in entries and in bytes.
pub struct PageCache<K, V> {
    limits: Limits,
    slots: Mutex<Slots<K, V>>,
}

impl<K: PartialEq, V> PageCache<K, V> {
    /// An empty cache bounded by `limits`.
    pub fn new(limits: Limits) -> PageCache<K, V> {
        PageCache {
            limits,
            slots: Mutex::new(Slots {
                list: Vec::new(),
                bytes: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slots<K, V>> {
        // A panic mid-update leaves at worst a missing entry; the list itself stays valid.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The part for `key` rendered from exactly `sources`, if kept; marks it recently used.
    pub fn get(&self, key: &K, sources: &[Source]) -> Option<Arc<V>> {
        let mut slots = self.lock();
        slots.drop_stale(sources);
        let at = slots.list.iter().position(|s| s.key == *key)?;
        let slot = slots.list.remove(at);
        let value = Arc::clone(&slot.value);
        slots.list.push(slot);
        Some(value)
    }

    /// Keeps `value` (`bytes` long) for `key` and `sources`, evicting the least recently
    /// used entries until both limits hold.
    pub fn insert(&self, key: K, sources: Vec<Source>, value: Arc<V>, bytes: usize) {
        if bytes > self.limits.bytes || self.limits.entries == 0 {
            return;
        }
        let mut slots = self.lock();
        slots.drop_stale(&sources);
        if let Some(at) = slots.list.iter().position(|s| s.key == key) {
            slots.remove(at);
        }
        while !slots.list.is_empty()
            && (slots.list.len() >= self.limits.entries || slots.bytes + bytes > self.limits.bytes)
        {
            slots.remove(0);
        }
        slots.bytes += bytes;
        slots.list.push(Slot {
            key,
            sources,
            value,
            bytes,
        });
    }

    /// How many entries and bytes the cache holds now.
    pub fn usage(&self) -> (usize, usize) {
        let slots = self.lock();
        (slots.list.len(), slots.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOMY: Limits = Limits {
        entries: 8,
        bytes: 1 << 20,
    };

    fn sources(a: &Arc<Vec<u8>>, b: &Arc<Vec<u8>>) -> Vec<Source> {
        vec![Source::of(a), Source::of(b)]
    }

    #[test]
    fn a_part_is_served_only_for_its_key_and_its_sources() {
        let cache: PageCache<&str, String> = PageCache::new(ROOMY);
        let installed = Arc::new(vec![1u8]);
        let upgrades = Arc::new(vec![2u8]);
        let src = sources(&installed, &upgrades);
        assert!(cache.get(&"q", &src).is_none());
        cache.insert("q", src.clone(), Arc::new("page".into()), 4);
        assert_eq!(
            cache.get(&"q", &src).as_deref().map(String::as_str),
            Some("page")
        );
        assert!(cache.get(&"other", &src).is_none(), "keys never share");
        // An equal set in a new Arc is a new source: the inventory re-read the database.
        let reread = Arc::new(vec![1u8]);
        assert!(cache.get(&"q", &sources(&reread, &upgrades)).is_none());
    }

    #[test]
    fn a_new_set_drops_every_part_of_the_old_ones() {
        let cache: PageCache<u32, String> = PageCache::new(ROOMY);
        let installed = Arc::new(vec![1u8]);
        let upgrades = Arc::new(vec![2u8]);
        let old = sources(&installed, &upgrades);
        cache.insert(1, old.clone(), Arc::new("a".into()), 1);
        cache.insert(2, old.clone(), Arc::new("b".into()), 1);
        assert_eq!(cache.usage(), (2, 2));
        let recomputed = Arc::new(vec![3u8]);
        let new = sources(&installed, &recomputed);
        assert!(cache.get(&1, &new).is_none());
        assert_eq!(
            cache.usage(),
            (0, 0),
            "parts of the old upgradable set are gone"
        );
        assert!(cache.get(&1, &old).is_none());
    }

    #[test]
    fn a_dropped_set_keeps_its_address_so_no_later_set_matches_it() {
        let cache: PageCache<u32, String> = PageCache::new(ROOMY);
        let upgrades = Arc::new(vec![0u8]);
        let mut installed = Arc::new(vec![1u8]);
        cache.insert(1, sources(&installed, &upgrades), Arc::new("x".into()), 1);
        for i in 0..100u8 {
            // The old set is dropped; the allocator may not hand its address to the new one.
            installed = Arc::new(vec![i]);
            assert!(cache.get(&1, &sources(&installed, &upgrades)).is_none());
            cache.insert(1, sources(&installed, &upgrades), Arc::new("x".into()), 1);
        }
    }

    #[test]
    fn the_entry_bound_evicts_the_least_recently_used() {
        let limits = Limits {
            entries: 3,
            bytes: 1 << 20,
        };
        let cache: PageCache<u32, u32> = PageCache::new(limits);
        let a = Arc::new(vec![0u8]);
        let src = sources(&a, &a);
        for k in 0..3 {
            cache.insert(k, src.clone(), Arc::new(k), 10);
        }
        assert!(cache.get(&0, &src).is_some(), "0 is now the most recent");
        cache.insert(3, src.clone(), Arc::new(3), 10);
        assert_eq!(cache.usage(), (3, 30));
        assert!(
            cache.get(&1, &src).is_none(),
            "1 was the least recently used"
        );
        for k in [0, 2, 3] {
            assert_eq!(cache.get(&k, &src).as_deref(), Some(&k));
        }
    }

    #[test]
    fn the_byte_bound_holds_and_an_oversized_part_is_not_kept() {
        let limits = Limits {
            entries: 100,
            bytes: 1000,
        };
        let cache: PageCache<u32, ()> = PageCache::new(limits);
        let a = Arc::new(vec![0u8]);
        let src = sources(&a, &a);
        for k in 0..50 {
            cache.insert(k, src.clone(), Arc::new(()), 300);
            let (entries, bytes) = cache.usage();
            assert!(bytes <= 1000, "{bytes} bytes after {k}");
            assert!(entries <= 3);
        }
        assert_eq!(cache.usage(), (3, 900));
        assert!(cache.get(&49, &src).is_some() && cache.get(&46, &src).is_none());
        cache.insert(99, src.clone(), Arc::new(()), 1001);
        assert!(cache.get(&99, &src).is_none());
        assert_eq!(cache.usage(), (3, 900), "nothing was evicted for it");
    }

    #[test]
    fn replacing_a_key_counts_its_bytes_once() {
        let cache: PageCache<u32, ()> = PageCache::new(ROOMY);
        let a = Arc::new(vec![0u8]);
        let src = sources(&a, &a);
        cache.insert(7, src.clone(), Arc::new(()), 100);
        cache.insert(7, src.clone(), Arc::new(()), 40);
        assert_eq!(cache.usage(), (1, 40));
    }
}
