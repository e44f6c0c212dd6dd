//! Checks for the national identifiers that forms carry: the citizen ID number
//! (GB 11643-1999) and the unified social credit code (GB 32100-2015).

/// Why an identifier is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("must be {expected} characters long, found {found}")]
    Length { expected: usize, found: usize },
    #[error("character {position} ('{character}') is not allowed there")]
    Character { position: usize, character: char },
    #[error("the birth date {0} is not a real date")]
    BirthDate(u32),
    #[error("the birth date {birth} is after the date of the application, {today}")]
    BornLater {
        birth: chrono::NaiveDate,
        today: chrono::NaiveDate,
    },
    #[error("the check character is '{found}', expected '{expected}'")]
    Check { expected: char, found: char },
}

const CITIZEN_ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CITIZEN_ID_CHECK: &[u8; 11] = b"10X98765432";

/// Checks an 18-character citizen ID number: 17 digits (area, birth date,
/// sequence) and a check character computed modulo 11 (GB 11643-1999).
pub fn check_citizen_id(id: &str) -> Result<(), IdentifierError> {
    check_citizen_id_on(id, None)
}

/// As [`check_citizen_id`]; with `today`, the birth date may not be after it.
pub fn check_citizen_id_on(
    id: &str,
    today: Option<chrono::NaiveDate>,
) -> Result<(), IdentifierError> {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() != 18 {
        return Err(IdentifierError::Length {
            expected: 18,
            found: chars.len(),
        });
    }
    let mut sum = 0;
    for (index, &character) in chars[..17].iter().enumerate() {
        let digit = character.to_digit(10).ok_or(IdentifierError::Character {
            position: index + 1,
            character,
        })?;
        sum += digit * CITIZEN_ID_WEIGHTS[index];
    }
    let last = chars[17].to_ascii_uppercase();
    if !(last.is_ascii_digit() || last == 'X') {
        return Err(IdentifierError::Character {
            position: 18,
            character: chars[17],
        });
    }
    let birth: String = chars[6..14].iter().collect();
    let birth_number: u32 = birth.parse().unwrap_or(0);
    let Ok(born) = chrono::NaiveDate::parse_from_str(&birth, "%Y%m%d") else {
        return Err(IdentifierError::BirthDate(birth_number));
    };
    if let Some(today) = today.filter(|today| born > *today) {
        return Err(IdentifierError::BornLater { birth: born, today });
    }
    let expected = CITIZEN_ID_CHECK[(sum % 11) as usize] as char;
    if last != expected {
        return Err(IdentifierError::Check {
            expected,
            found: chars[17],
        });
    }
    Ok(())
}

const CREDIT_CODE_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_CODE_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Checks an 18-character unified social credit code: characters from a
/// 31-letter alphabet (no I, O, Z, S, V) and a check character computed
/// modulo 31 (GB 32100-2015).
pub fn check_credit_code(code: &str) -> Result<(), IdentifierError> {
    let chars: Vec<char> = code.chars().collect();
    if chars.len() != 18 {
        return Err(IdentifierError::Length {
            expected: 18,
            found: chars.len(),
        });
    }
    let mut values = Vec::with_capacity(18);
    for (index, &character) in chars.iter().enumerate() {
        let value = CREDIT_CODE_ALPHABET
            .find(character)
            .ok_or(IdentifierError::Character {
                position: index + 1,
                character,
            })?;
        values.push(value as u32);
    }
    let sum: u32 = values[..17]
        .iter()
        .zip(CREDIT_CODE_WEIGHTS)
        .map(|(value, weight)| value * weight)
        .sum();
    let check = (31 - sum % 31) % 31;
    let expected = CREDIT_CODE_ALPHABET.as_bytes()[check as usize] as char;
    if chars[17] != expected {
        return Err(IdentifierError::Check {
            expected,
            found: chars[17],
        });
    }
    Ok(())
}

/// A mainland mobile number (11 digits from 13–19) or a landline with area code.
pub fn check_phone(phone: &str) -> bool {
    let digits_only = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let bytes = phone.as_bytes();
    if bytes.len() == 11 && bytes[0] == b'1' && (b'3'..=b'9').contains(&bytes[1]) {
        return digits_only(phone);
    }
    let landline = match phone.split_once('-') {
        Some((area, number)) => {
            digits_only(area)
                && (3..=4).contains(&area.len())
                && area.starts_with('0')
                && digits_only(number)
                && (7..=8).contains(&number.len())
        }
        None => false,
    };
    landline || (phone.starts_with("12345") && phone.len() == 5)
}

/// A citizen ID number as it is stored: its check character `x` in upper case.
pub fn normalise_citizen_id(id: &str) -> String {
    match id.strip_suffix('x') {
        Some(rest) => format!("{rest}X"),
        None => id.to_string(),
    }
}

/// Masks a citizen ID number for lists and logs: area and the last character
/// stay, the birth date and sequence do not.
pub fn mask_citizen_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    let keep_front = 6;
    let keep_back = 1;
    chars[..keep_front]
        .iter()
        .chain(std::iter::repeat_n(
            &'*',
            chars.len() - keep_front - keep_back,
        ))
        .chain(&chars[chars.len() - keep_back..])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_citizen_ids_pass() {
        // The national standard's worked example, and a lower-case x.
        for id in [
            "11010519491231002X",
            "11010519491231002x",
            "440524188001010014",
            "110101199003077897",
        ] {
            assert_eq!(check_citizen_id(id), Ok(()), "{id}");
        }
    }

    #[test]
    fn invalid_citizen_ids_say_what_is_wrong() {
        assert_eq!(
            check_citizen_id("110105194912310021"),
            Err(IdentifierError::Check {
                expected: 'X',
                found: '1'
            })
        );
        assert_eq!(
            check_citizen_id("11010519491231002"),
            Err(IdentifierError::Length {
                expected: 18,
                found: 17
            })
        );
        assert_eq!(
            check_citizen_id("1101051949123100A2"),
            Err(IdentifierError::Character {
                position: 17,
                character: 'A'
            })
        );
        assert_eq!(
            check_citizen_id("110105194913310023"),
            Err(IdentifierError::BirthDate(19491331))
        );
        assert_eq!(
            check_citizen_id("11010519491231002Y"),
            Err(IdentifierError::Character {
                position: 18,
                character: 'Y'
            })
        );
    }

    #[test]
    fn valid_credit_codes_pass() {
        for code in [
            "91350100M000100Y43",
            "911100001000061047",
            "91110108551385082Q",
        ] {
            assert_eq!(check_credit_code(code), Ok(()), "{code}");
        }
    }

    #[test]
    fn invalid_credit_codes_say_what_is_wrong() {
        assert_eq!(
            check_credit_code("91350100M000100Y44"),
            Err(IdentifierError::Check {
                expected: '3',
                found: '4'
            })
        );
        assert_eq!(
            check_credit_code("91350100I000100Y43"),
            Err(IdentifierError::Character {
                position: 9,
                character: 'I'
            })
        );
        assert_eq!(
            check_credit_code("9135"),
            Err(IdentifierError::Length {
                expected: 18,
                found: 4
            })
        );
    }

    #[test]
    fn a_birth_date_must_be_real_and_not_after_the_application() {
        let day = |text| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap();
        assert_eq!(
            check_citizen_id_on("110105999912310028", Some(day("2026-06-01"))),
            Err(IdentifierError::BornLater {
                birth: day("9999-12-31"),
                today: day("2026-06-01")
            })
        );
        assert_eq!(
            check_citizen_id_on("110105202605200039", Some(day("2026-05-20"))),
            Ok(())
        );
        assert_eq!(
            check_citizen_id("110105194902300021"),
            Err(IdentifierError::BirthDate(19490230))
        );
        assert_eq!(
            normalise_citizen_id("11010519491231002x"),
            "11010519491231002X"
        );
    }

    #[test]
    fn phones_and_masks() {
        assert!(check_phone("13800138000"));
        assert!(check_phone("010-12345678"));
        assert!(!check_phone("12800138000"));
        assert!(!check_phone("1380013800"));
        assert_eq!(mask_citizen_id("11010519491231002X"), "110105***********X");
    }
}
