-- list_label_checks: per split, the rows, the rows whose list of labels is NULL (the null policy,
-- --drop-nulls) and the rows holding a NULL element (always refused).
--
-- Input: the view `label_input(split, label)`, `label` a list of label strings.
-- `null_elements(list)` counts a row's NULL elements (a vectorised function, see
-- src/transform/list_encode.rs).
SELECT split,
       COUNT(*) AS num_rows,
       COUNT(*) - COUNT(label) AS null_lists,
       SUM(CASE WHEN null_elements(label) > 0 THEN 1 ELSE 0 END) AS rows_with_null_elements,
       SUM(null_elements(label)) AS null_elements
FROM label_input
GROUP BY split
