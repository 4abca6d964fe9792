-- multi_label_counts: for a multi-label export, how many rows of each split contain each label
-- (a label twice in one row counts once).
--
-- Input: the view `label_input(split, label)`, `label` a list of label strings, without NULL
-- lists or NULL elements (refused or dropped before). One map is built from these counts over
-- every element of every split.
SELECT split, label, COUNT(*) AS num_rows
FROM (SELECT split, unnest(array_distinct(label)) AS label FROM label_input)
GROUP BY split, label
ORDER BY split, label
