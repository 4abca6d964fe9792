-- encode_labels: replace each row's label string by its integer id.
--
-- Inputs: `label_map(label, id)` — the small, in-memory map, on the build side of the hash
-- join — and `input`, the split being exported (its `label` already cast to a string), which
-- streams through the join batch by batch. The session collects the build side whole and
-- never repartitions the probe side, so row order within each partition is kept and the
-- output is deterministic. Rows with a NULL label match nothing (they were refused before, or
-- dropped with --drop-nulls).
SELECT input.*, label_map.id AS __label_id
FROM label_map
JOIN input ON label_map.label = input.label
