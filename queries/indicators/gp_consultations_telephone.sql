/*
id = "gp_consultations_telephone"
title = "GP consultations: telephone"
definition = "GP consultations delivered telephone, crude rate per 1,000 population."
source = "ccg_activity"
measure = "crude_rate"
multiplier = 1000
polarity = "no_judgement"
grain = "month"
disclosure_threshold = 8
breakdowns = ["imd_quintile", "imd_decile", "local_imd_quintile", "sex"]
[denominator]
kind = "population"
*/
SELECT lsoa_code, activity_date AS event_date, sex, count AS numerator
FROM ccg_activity
WHERE activity_type = 'gp_telephone'
