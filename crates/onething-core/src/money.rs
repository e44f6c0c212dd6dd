//! Bill amounts computed exactly. CEL computes decimals in binary floating
//! point, where `0.1 + 0.2` is not `0.3` and a product can land a hair off a
//! half fen and round the wrong way. An amount is therefore evaluated here,
//! over the same parsed expression, in exact fractions (`i128` numerator and
//! denominator): CEL's integers stay integers (their division truncates, as
//! in CEL), its doubles become exact fractions (a decimal field `85.5` is
//! 171/2), and the result is rounded once by the bill's rule.
//!
//! The arithmetic, comparisons, `&&`, `||`, `!`, `? :`, `double()`, `int()`
//! and names (`form.x`, `steps.s.x`) are what amounts use; anything else is
//! an error naming it, which the validator reports when a bundle is loaded.

use std::collections::HashMap;
use std::sync::Arc;

use cel::common::ast::{Expr, IdedExpr, LiteralValue};
use cel::Value as CelValue;

use crate::workflow::Rounding;

/// An exact value of an amount expression.
#[derive(Debug, Clone, PartialEq)]
enum Exact {
    /// A CEL `int`: division truncates toward zero.
    Int(i128),
    /// A CEL `double`, kept exactly: numerator / denominator, denominator > 0.
    Fraction(i128, i128),
    Bool(bool),
    Text(Arc<String>),
    Null,
    Object(Arc<HashMap<String, CelValue>>),
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    a = a.abs();
    b = b.abs();
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

fn fraction(numerator: i128, denominator: i128) -> Result<Exact, String> {
    if denominator == 0 {
        return Err("division by zero".into());
    }
    let sign = if denominator < 0 { -1 } else { 1 };
    let divisor = gcd(numerator, denominator);
    Ok(Exact::Fraction(
        sign * numerator / divisor,
        sign * denominator / divisor,
    ))
}

/// A binary double as the decimal it was written as (`85.5`, `0.1`): the
/// shortest text that reads back as the same double, taken exactly.
fn from_double(value: f64) -> Result<Exact, String> {
    if !value.is_finite() {
        return Err(format!("{value} is not a number of fen"));
    }
    let text = format!("{value}");
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (
            mantissa.to_string(),
            exponent.parse::<i32>().map_err(|e| e.to_string())?,
        ),
        None => (text.clone(), 0),
    };
    let (whole, decimals) = mantissa.split_once('.').unwrap_or((&mantissa, ""));
    let digits: i128 = format!("{whole}{decimals}")
        .parse()
        .map_err(|_| format!("{value} is too large"))?;
    let scale = exponent - decimals.len() as i32;
    let ten = |power: u32| {
        10i128
            .checked_pow(power)
            .ok_or_else(|| format!("{value} is too large"))
    };
    if scale >= 0 {
        let numerator = digits
            .checked_mul(ten(scale as u32)?)
            .ok_or_else(|| format!("{value} is too large"))?;
        Ok(Exact::Fraction(numerator, 1))
    } else {
        fraction(digits, ten((-scale) as u32)?)
    }
}

fn from_cel(value: &CelValue) -> Result<Exact, String> {
    Ok(match value {
        CelValue::Int(number) => Exact::Int(i128::from(*number)),
        CelValue::UInt(number) => Exact::Int(i128::from(*number)),
        CelValue::Float(number) => from_double(*number)?,
        CelValue::Bool(flag) => Exact::Bool(*flag),
        CelValue::String(text) => Exact::Text(text.clone()),
        CelValue::Null => Exact::Null,
        CelValue::Map(map) => Exact::Object(Arc::new(
            map.map
                .iter()
                .filter_map(|(key, value)| match key {
                    cel::objects::Key::String(name) => Some((name.to_string(), value.clone())),
                    _ => None,
                })
                .collect(),
        )),
        other => return Err(format!("a {other:?} cannot be part of an amount")),
    })
}

/// Both as fractions (an `int` is n/1).
fn as_fraction(value: &Exact) -> Option<(i128, i128)> {
    match value {
        Exact::Int(number) => Some((*number, 1)),
        Exact::Fraction(numerator, denominator) => Some((*numerator, *denominator)),
        _ => None,
    }
}

fn overflow() -> String {
    "the amount is too large to compute".into()
}

fn arithmetic(operator: &str, left: Exact, right: Exact) -> Result<Exact, String> {
    if let (Exact::Int(a), Exact::Int(b)) = (&left, &right) {
        let (a, b) = (*a, *b);
        let result = match operator {
            "_+_" => a.checked_add(b),
            "_-_" => a.checked_sub(b),
            "_*_" => a.checked_mul(b),
            "_/_" if b == 0 => return Err("division by zero".into()),
            "_/_" => a.checked_div(b),
            "_%_" if b == 0 => return Err("division by zero".into()),
            "_%_" => a.checked_rem(b),
            _ => None,
        };
        // CEL's int is 64 bits: past that CEL itself fails.
        return result
            .filter(|value| i64::try_from(*value).is_ok())
            .map(Exact::Int)
            .ok_or_else(overflow);
    }
    let (Some((a, b)), Some((c, d))) = (as_fraction(&left), as_fraction(&right)) else {
        return Err(format!("`{operator}` needs numbers"));
    };
    let product = |x: i128, y: i128| x.checked_mul(y).ok_or_else(overflow);
    match operator {
        "_+_" => fraction(
            product(a, d)?
                .checked_add(product(c, b)?)
                .ok_or_else(overflow)?,
            product(b, d)?,
        ),
        "_-_" => fraction(
            product(a, d)?
                .checked_sub(product(c, b)?)
                .ok_or_else(overflow)?,
            product(b, d)?,
        ),
        "_*_" => fraction(product(a, c)?, product(b, d)?),
        "_/_" => fraction(product(a, d)?, product(b, c)?),
        other => Err(format!("`{other}` is not an operation amounts use")),
    }
}

fn compare(operator: &str, left: &Exact, right: &Exact) -> Result<bool, String> {
    // Text is ordered as CEL orders it, so that a date (`YYYY-MM-DD`, the
    // application date) can pick the rate in force.
    if let (Exact::Text(a), Exact::Text(b)) = (left, right) {
        match operator {
            "_<_" => return Ok(a < b),
            "_<=_" => return Ok(a <= b),
            "_>_" => return Ok(a > b),
            "_>=_" => return Ok(a >= b),
            _ => {}
        }
    }
    let equal_kinds = match (left, right) {
        (Exact::Text(a), Exact::Text(b)) => Some(a == b),
        (Exact::Bool(a), Exact::Bool(b)) => Some(a == b),
        (Exact::Null, Exact::Null) => Some(true),
        (Exact::Null, _) | (_, Exact::Null) => Some(false),
        _ => None,
    };
    if let Some(equal) = equal_kinds {
        return match operator {
            "_==_" => Ok(equal),
            "_!=_" => Ok(!equal),
            other => Err(format!("`{other}` compares numbers only")),
        };
    }
    let (Some((a, b)), Some((c, d))) = (as_fraction(left), as_fraction(right)) else {
        return Err(format!("`{operator}` cannot compare these values"));
    };
    let (x, y) = (
        a.checked_mul(d).ok_or_else(overflow)?,
        c.checked_mul(b).ok_or_else(overflow)?,
    );
    Ok(match operator {
        "_==_" => x == y,
        "_!=_" => x != y,
        "_<_" => x < y,
        "_<=_" => x <= y,
        "_>_" => x > y,
        "_>=_" => x >= y,
        other => return Err(format!("`{other}` is not a comparison")),
    })
}

fn truthy(value: Exact) -> Result<bool, String> {
    match value {
        Exact::Bool(flag) => Ok(flag),
        _ => Err("a condition must be true or false".into()),
    }
}

fn evaluate(expression: &IdedExpr, names: &HashMap<String, CelValue>) -> Result<Exact, String> {
    match &expression.expr {
        Expr::Literal(literal) => Ok(match literal {
            LiteralValue::Int(number) => Exact::Int(i128::from(*number.inner())),
            LiteralValue::UInt(number) => Exact::Int(i128::from(*number.inner())),
            LiteralValue::Double(number) => from_double(*number.inner())?,
            LiteralValue::Boolean(flag) => Exact::Bool(*flag.inner()),
            LiteralValue::String(text) => Exact::Text(Arc::new(text.inner().to_string())),
            LiteralValue::Null => Exact::Null,
            LiteralValue::Bytes(_) => return Err("bytes cannot be part of an amount".into()),
        }),
        Expr::Ident(name) => names
            .get(name)
            .map(from_cel)
            .transpose()?
            .ok_or_else(|| format!("`{name}` is not known")),
        Expr::Select(select) => match evaluate(&select.operand, names)? {
            Exact::Object(fields) => Ok(fields
                .get(&select.field)
                .map(from_cel)
                .transpose()?
                .unwrap_or(Exact::Null)),
            Exact::Null => Ok(Exact::Null),
            _ => Err(format!(
                "`.{}` of something that has no fields",
                select.field
            )),
        },
        Expr::Call(call) => {
            let argument = |index: usize| {
                call.args
                    .get(index)
                    .ok_or_else(|| format!("`{}` lacks an argument", call.func_name))
            };
            match call.func_name.as_str() {
                "_?_:_" => {
                    if truthy(evaluate(argument(0)?, names)?)? {
                        evaluate(argument(1)?, names)
                    } else {
                        evaluate(argument(2)?, names)
                    }
                }
                "_&&_" => Ok(Exact::Bool(
                    truthy(evaluate(argument(0)?, names)?)?
                        && truthy(evaluate(argument(1)?, names)?)?,
                )),
                "_||_" => Ok(Exact::Bool(
                    truthy(evaluate(argument(0)?, names)?)?
                        || truthy(evaluate(argument(1)?, names)?)?,
                )),
                "!_" => Ok(Exact::Bool(!truthy(evaluate(argument(0)?, names)?)?)),
                "-_" => match evaluate(argument(0)?, names)? {
                    Exact::Int(number) => Ok(Exact::Int(-number)),
                    Exact::Fraction(numerator, denominator) => {
                        Ok(Exact::Fraction(-numerator, denominator))
                    }
                    _ => Err("`-` of something that is not a number".into()),
                },
                "_+_" | "_-_" | "_*_" | "_/_" | "_%_" => arithmetic(
                    &call.func_name,
                    evaluate(argument(0)?, names)?,
                    evaluate(argument(1)?, names)?,
                ),
                "_==_" | "_!=_" | "_<_" | "_<=_" | "_>_" | "_>=_" => Ok(Exact::Bool(compare(
                    &call.func_name,
                    &evaluate(argument(0)?, names)?,
                    &evaluate(argument(1)?, names)?,
                )?)),
                "double" => match evaluate(argument(0)?, names)? {
                    Exact::Int(number) => Ok(Exact::Fraction(number, 1)),
                    fraction @ Exact::Fraction(..) => Ok(fraction),
                    _ => Err("`double()` of something that is not a number".into()),
                },
                "int" => match evaluate(argument(0)?, names)? {
                    Exact::Int(number) => Ok(Exact::Int(number)),
                    // CEL truncates toward zero.
                    Exact::Fraction(numerator, denominator) => {
                        Ok(Exact::Int(numerator / denominator))
                    }
                    _ => Err("`int()` of something that is not a number".into()),
                },
                other => Err(format!("`{other}` is not used in amounts")),
            }
        }
        _ => Err("only arithmetic, comparisons, conditions and names make an amount".into()),
    }
}

/// The operations an amount may use.
const OPERATIONS: [&str; 18] = [
    "_?_:_", "_&&_", "_||_", "!_", "-_", "_+_", "_-_", "_*_", "_/_", "_%_", "_==_", "_!=_", "_<_",
    "_<=_", "_>_", "_>=_", "double", "int",
];

/// Whether an amount uses only what is computed exactly; names the first
/// thing it uses that is not (for the validator, before any case runs).
pub fn check(expression: &IdedExpr) -> Result<(), String> {
    let mut pending = vec![expression];
    while let Some(expression) = pending.pop() {
        match &expression.expr {
            Expr::Literal(LiteralValue::Bytes(_)) => return Err("a bytes literal".into()),
            Expr::Literal(_) | Expr::Ident(_) => {}
            Expr::Select(select) => pending.push(&select.operand),
            Expr::Call(call) => {
                if !OPERATIONS.contains(&call.func_name.as_str()) || call.target.is_some() {
                    return Err(format!("`{}`", call.func_name.trim_matches('_')));
                }
                pending.extend(call.args.iter());
            }
            Expr::List(_) => return Err("a list".into()),
            Expr::Map(_) | Expr::Struct(_) => return Err("a map".into()),
            Expr::Comprehension(_) => return Err("a macro (all, exists, map, filter)".into()),
            Expr::Unspecified => return Err("an empty expression".into()),
        }
    }
    Ok(())
}

/// Rounds n/d (d > 0) to a whole number by the rule.
fn round(numerator: i128, denominator: i128, rounding: Rounding) -> i128 {
    let truncated = numerator / denominator;
    let remainder = numerator % denominator;
    if remainder == 0 {
        return truncated;
    }
    let away = truncated + numerator.signum();
    let twice = 2 * remainder.abs();
    match rounding {
        Rounding::Down => truncated,
        Rounding::Up => away,
        Rounding::HalfUp => {
            if twice >= denominator {
                away
            } else {
                truncated
            }
        }
        Rounding::HalfEven => {
            if twice > denominator || (twice == denominator && truncated % 2 != 0) {
                away
            } else {
                truncated
            }
        }
    }
}

/// The amount in whole fen, computed exactly and rounded once by `rounding`.
pub fn amount_in_fen(
    expression: &IdedExpr,
    names: &HashMap<String, CelValue>,
    rounding: Rounding,
) -> Result<i128, String> {
    match evaluate(expression, names)? {
        Exact::Int(fen) => Ok(fen),
        Exact::Fraction(numerator, denominator) => Ok(round(numerator, denominator, rounding)),
        _ => Err("it is not a number".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fen(text: &str, rounding: Rounding) -> Result<i128, String> {
        let program = cel::Program::compile(text).unwrap();
        amount_in_fen(program.expression(), &HashMap::new(), rounding)
    }

    #[test]
    fn decimals_are_exact_where_binary_floating_point_is_not() {
        // 0.1 + 0.2 is 0.30000000000000004 in f64.
        assert_eq!(fen("(0.1 + 0.2) * 10.0", Rounding::Down), Ok(3));
        // 1.005 × 1000 = 1004.9999999999999 in f64: half-up gives 1005 only exactly.
        assert_eq!(fen("1.0045 * 1000.0", Rounding::HalfUp), Ok(1005));
        assert_eq!(fen("1.0045 * 1000.0", Rounding::HalfEven), Ok(1004));
    }

    #[test]
    fn integers_divide_as_cel_does_and_doubles_round_once() {
        assert_eq!(fen("7 / 2", Rounding::HalfUp), Ok(3));
        assert_eq!(fen("7.0 / 2.0", Rounding::HalfUp), Ok(4));
        assert_eq!(fen("int(7.9)", Rounding::HalfUp), Ok(7));
        assert_eq!(fen("5.0 / 2.0", Rounding::HalfEven), Ok(2));
        assert_eq!(fen("5.0 / 2.0", Rounding::Up), Ok(3));
        assert_eq!(fen("true ? 1.5 : 2.5", Rounding::Down), Ok(1));
    }

    #[test]
    fn a_bill_rounds_a_true_half_fen_up_where_a_double_would_not() {
        use crate::expression::{compile, Bindings, ExpressionSource};
        use crate::localized::Localized;
        use crate::value_type::{Field, ValueKind};
        // 100 fen × 14.5% is 14.5 fen exactly; as doubles it is
        // 14.499999999999998 and half-up would bill 14.
        let price = Field {
            name: "price".into(),
            kind: ValueKind::Money,
            required: crate::value_type::Requirement::ALWAYS,
            label: Localized {
                zh: "价格".into(),
                en: "Price".into(),
            },
            options: Vec::new(),
            items: None,
            min: None,
            max: None,
        };
        let bindings = Bindings::new(&[price], &serde_json::json!({"price": 100}));
        let text = "double(form.price) * 0.145";
        let program = compile(&ExpressionSource { text, start: 0 }).unwrap();
        let as_double = match bindings.evaluate(&program).unwrap() {
            CelValue::Float(fen) => fen,
            other => panic!("CEL gives a double here, not {other:?}"),
        };
        assert_eq!(Rounding::HalfUp.apply(as_double), 14.0);
        assert_eq!(bindings.amount_in_fen(&program, Rounding::HalfUp), Ok(15));
    }

    #[test]
    fn the_check_names_what_an_amount_may_not_use() {
        let checked = |text: &str| check(cel::Program::compile(text).unwrap().expression());
        assert_eq!(
            checked("form.price * 3 / 100 + (form.a > 1.5 ? 1 : 0)"),
            Ok(())
        );
        assert_eq!(checked("size(form.list)"), Err("`size`".to_string()));
        assert_eq!(checked("max([1, 2])"), Err("`max`".to_string()));
    }

    #[test]
    fn what_amounts_do_not_use_is_an_error_naming_it() {
        assert!(fen("size('abc')", Rounding::HalfUp)
            .unwrap_err()
            .contains("size"));
        assert!(fen("1 / 0", Rounding::HalfUp)
            .unwrap_err()
            .contains("division by zero"));
        assert!(fen("9223372036854775807 + 1", Rounding::HalfUp)
            .unwrap_err()
            .contains("too large"));
    }
}
