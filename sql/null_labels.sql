-- null_labels: rows per split, and how many of them have a label, for labels that are not
-- counted by value (a regression target; the lists of a multi-label export).
--
-- Input: the view `label_input(split, label)` (a regression label is already float32 with NaN
-- turned into NULL). Rows minus labelled rows are the null labels, refused unless --drop-nulls.
SELECT split, COUNT(*) AS num_rows, COUNT(label) AS labelled_rows
FROM label_input
GROUP BY split
