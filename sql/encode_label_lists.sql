-- encode_label_lists: add each row's list of label ids (multi-label and token classification).
--
-- Input: `input`, the split being exported (its `label` a list of label strings).
-- `label_ids(label)` looks every element up in the run's one label map, keeping element order
-- (see src/transform/list_encode.rs); other columns pass through untouched, row order is kept.
SELECT input.*, label_ids(input.label) AS __label_id
FROM input
