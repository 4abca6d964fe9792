-- encode_labels: add each row's label id.
--
-- Input: `input`, the split being exported (its `label` already cast to a string).
-- `label_id(label)` looks each label up in the run's one label map (a vectorised expression:
-- other columns pass through untouched, row order is kept, nothing is buffered). Rows with a
-- NULL label were refused before, or filtered out with --drop-nulls.
SELECT input.*, label_id(input.label) AS __label_id
FROM input
