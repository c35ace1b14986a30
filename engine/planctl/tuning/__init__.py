"""tuning: the governed MetaSchedule cache (store, keys, committed records) and the search itself."""
