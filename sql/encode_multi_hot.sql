-- encode_multi_hot: add each row's multi-hot vector (--multi-hot): float32, one element per
-- label id, 1.0 where the row has that label.
--
-- Input: `input`, the split being exported (its `label` a list of label strings).
SELECT input.*, multi_hot(input.label) AS __label_id
FROM input
