-- token_label_counts: for a token-classification export, how many tags of each split carry
-- each label.
--
-- Input: the view `label_input(split, label)`, `label` the list of a row's tags, without NULL
-- lists or NULL tags (refused or dropped before). One map is built from these counts over every
-- tag of every split.
SELECT split, label, COUNT(*) AS num_rows
FROM (SELECT split, unnest(label) AS label FROM label_input)
GROUP BY split, label
ORDER BY split, label
