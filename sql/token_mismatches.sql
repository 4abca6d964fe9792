-- token_mismatches: for each row of one split, in row order, whether its words and tags differ
-- in length; read only when token_checks.sql found such rows, to name their positions.
--
-- Input: the view `token_split(tokens, label)`, one split (a projection of the scan that is
-- exported, so positions are the rows' positions in the output).
SELECT COALESCE(cardinality(tokens) <> cardinality(label), false) AS mismatched
FROM token_split
