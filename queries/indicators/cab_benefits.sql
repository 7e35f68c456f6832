/*
id = "cab_benefits"
title = "Citizens Advice contacts: benefits"
definition = "Citizens Advice contacts with residents about benefits, crude rate per 1,000 population aged 16 and over."
source = "cab"
measure = "crude_rate"
multiplier = 1000
polarity = "no_judgement"
grain = "month"
disclosure_threshold = 8
breakdowns = ["imd_quintile", "imd_decile", "local_imd_quintile", "sex"]
[denominator]
kind = "population"
age_min = 16
age_max = 90
*/
SELECT lsoa_code, contact_date AS event_date, sex, 1 AS numerator
FROM cab
WHERE advice_category = 'benefits'
