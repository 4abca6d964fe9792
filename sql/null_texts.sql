-- null_texts: rows per split whose text is NULL (refused unless --drop-nulls).
--
-- Input: the view `text_input(split, text)`. The IS NULL filter is pushed into the Delta scan,
-- so files whose statistics say they hold no null text are skipped without being read.
SELECT split, COUNT(*) AS num_rows
FROM text_input
WHERE text IS NULL
GROUP BY split
