-- token_checks: per split, for a token-classification export: the rows, the rows whose words or
-- tags are NULL (the null policy, --drop-nulls), NULL words and NULL tags (always refused), and
-- the rows whose words and tags differ in length (always refused).
--
-- Input: the view `token_input(split, tokens, label)`, both lists of strings. A row with a NULL
-- list counts as null, not as mismatched.
SELECT split,
       COUNT(*) AS num_rows,
       SUM(CASE WHEN tokens IS NULL OR label IS NULL THEN 1 ELSE 0 END) AS null_rows,
       SUM(null_elements(tokens)) AS null_tokens,
       SUM(null_elements(label)) AS null_tags,
       SUM(CASE WHEN cardinality(tokens) <> cardinality(label) THEN 1 ELSE 0 END) AS mismatched_rows
FROM token_input
GROUP BY split
