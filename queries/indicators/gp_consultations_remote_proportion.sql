/*
id = "gp_consultations_remote_proportion"
title = "GP consultations delivered remotely"
definition = "Proportion of GP consultations delivered by telephone, video or online, per cent."
source = "ccg_activity"
measure = "proportion"
multiplier = 100
polarity = "no_judgement"
grain = "month"
disclosure_threshold = 8
breakdowns = ["imd_quintile", "imd_decile", "local_imd_quintile", "sex"]
[denominator]
kind = "dataset"
*/
SELECT lsoa_code, activity_date AS event_date, sex,
       CASE WHEN activity_type IN ('gp_telephone', 'gp_video', 'gp_online') THEN count ELSE 0 END AS numerator,
       count AS denominator
FROM ccg_activity
WHERE activity_type LIKE 'gp_%'
