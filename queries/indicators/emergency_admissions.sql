/*
id = "emergency_admissions"
title = "Emergency admissions (all causes)"
definition = "Emergency hospital admissions of residents, all causes, directly age-standardised to the European Standard Population 2013, per 100,000 population."
source = "admissions"
measure = "dsr"
multiplier = 100000
polarity = "lower_is_better"
grain = "month"
disclosure_threshold = 8
breakdowns = ["imd_quintile", "imd_decile", "local_imd_quintile", "sex", "age_band", "ethnic_group"]
[denominator]
kind = "population"
*/
SELECT lsoa_code, admission_date AS event_date, age, sex, 1 AS numerator,
       -- NHS ethnic category (2001 Census codes) to the Census 2021 high-level groups.
       nhs_ethnic_group(ethnic_category) AS ethnic_group
FROM admissions
WHERE admission_method = 'emergency'
