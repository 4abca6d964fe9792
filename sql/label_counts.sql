-- label_counts: how many rows of each split carry each label; a NULL label is a missing one.
--
-- Input: the view `label_input(split, label)` — every split's label column cast to a string,
-- unioned. It is a label-only pass: no other column of the tables is read.
-- Output: one row per (split, label). The tool orders and numbers the labels from these counts
-- (code-point, natural or frequency order), so one map serves every split.
SELECT split, label, COUNT(*) AS num_rows
FROM label_input
GROUP BY split, label
ORDER BY split, label
