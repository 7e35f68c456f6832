/*
id = "ed_attendances"
title = "Emergency department attendances"
definition = "Attendances at emergency departments by residents, crude rate per 1,000 population."
source = "ccg_activity"
measure = "crude_rate"
multiplier = 1000
polarity = "lower_is_better"
grain = "week"
disclosure_threshold = 8
breakdowns = ["imd_quintile", "imd_decile", "local_imd_quintile", "sex"]
[denominator]
kind = "population"
*/
SELECT lsoa_code, activity_date AS event_date, sex, count AS numerator
FROM ccg_activity
WHERE activity_type = 'ed'
